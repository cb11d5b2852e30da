"""The generation and style-transfer prompts, versioned: change any text here -> bump `PROMPT_VERSION` (it is in
every response and in the service's cache key; `prompt_fingerprint` also changes, so an edit without a bump still
misses the cache).

The retrieved verses are quoted to the model as style examples, each between triple quotes with its artist, and
the model is told to write new lines rather than reuse theirs (the verbatim detector checks that it did). With
`k = 0` the same prompt is built without the examples block (the bench's "rewrite without examples" reference).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from rap_analyzer.models.llm.prompt import truncate_lyrics

PROMPT_VERSION = "style-v1"

SYSTEM_PROMPT = """You are a rap lyricist. You write original lyrics and nothing else: no title, no comments, \
no explanations, no section labels."""

EXAMPLES_HEADER = """Here are {n} verses by {artist}, as examples of their style (vocabulary, imagery, rhythm, \
rhyme). Do not copy their lines; write new ones in the same style.
"""
EXAMPLE_TEMPLATE = """
Example {i}:
\"\"\"
{text}
\"\"\"
"""

GENERATE_TEMPLATE = """{examples}Write a rap verse{style} that continues these opening lines:
\"\"\"
{prompt}
\"\"\"
Write only the new lines of the verse."""

TRANSFER_TEMPLATE = """{examples}Rewrite the lyrics below in the style of {artist}. Keep their subject and \
meaning; change the wording, imagery, rhythm and rhymes to sound like {artist}.
Lyrics:
\"\"\"
{lyrics}
\"\"\"
Write only the rewritten lyrics."""


def quote_example(lyrics: str, max_chars: int) -> str:
    """The part of a song quoted as an example: its first `max_chars` characters, cut back to a line break (the
    same cut the analysis prompt makes), so that each example and the whole request stay bounded."""
    return truncate_lyrics(lyrics, max_chars)[0]


def _examples_block(artist: str | None, examples: Sequence[str]) -> str:
    if not examples:
        return ""
    if artist is None:
        raise ValueError("examples need the artist they are by")
    quoted = "".join(EXAMPLE_TEMPLATE.format(i=i, text=text) for i, text in enumerate(examples, start=1))
    return EXAMPLES_HEADER.format(n=len(examples), artist=artist) + quoted + "\n"


def generation_messages(prompt: str, artist: str | None, examples: Sequence[str]) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for a verse continuing `prompt`, in the style of `artist` when one is
    given, with `examples` (already quoted with `quote_example`) shown as style examples. Raises ValueError for
    an empty prompt, or examples without an artist."""
    if not prompt.strip():
        raise ValueError("empty prompt: give the opening lines to continue")
    user = GENERATE_TEMPLATE.format(examples=_examples_block(artist, examples),
                                    style=f" in the style of {artist}" if artist else "", prompt=prompt.strip())
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def transfer_messages(lyrics: str, artist: str, examples: Sequence[str]) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for `lyrics` rewritten in the style of `artist`, with `examples`
    (already quoted) shown as style examples. Raises ValueError for empty lyrics."""
    if not lyrics.strip():
        raise ValueError("empty lyrics: nothing to rewrite")
    user = TRANSFER_TEMPLATE.format(examples=_examples_block(artist, examples), artist=artist,
                                    lyrics=lyrics.strip())
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def prompt_fingerprint() -> str:
    """Short hash of every prompt text and the version, so that an edit without a version bump still changes
    the service's cache keys."""
    blob = "\n".join((PROMPT_VERSION, SYSTEM_PROMPT, EXAMPLES_HEADER, EXAMPLE_TEMPLATE, GENERATE_TEMPLATE,
                      TRANSFER_TEMPLATE)).encode()
    return hashlib.sha1(blob).hexdigest()[:10]
