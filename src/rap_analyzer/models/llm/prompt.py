"""The one analysis prompt, versioned: change the text -> bump `PROMPT_VERSION` (it keys the reply cache and
the rows stored in `analyses`).

The prompt describes every field and its type but gives no example values: small models copy example numbers
into their answers, which would make the scores look informative when they are not.
"""

from __future__ import annotations

import hashlib

PROMPT_VERSION = "v1"

SYSTEM_PROMPT = """You are a music critic who analyses rap lyrics. You answer with one JSON object and nothing \
else: no prose, no markdown.

The JSON object has exactly these keys:
- "themes": array of 1 to 5 short strings, the main topics of the lyrics.
- "mood": string, the dominant emotional tone, one or two words.
- "rhyme_scheme": string, the prevailing rhyme pattern written with letters (pairs of equal letters rhyme).
- "flow": string, a few words describing rhythm and delivery as suggested by the text.
- "complexity": integer from 1 (simplest) to 10 (most complex): wordplay, multisyllabic rhymes, references.
- "lyrical_quality": integer from 1 (weakest) to 10 (strongest): craft of the writing as a whole.
- "commercial_potential": integer from 1 (lowest) to 10 (highest): how likely the song is to be a popular hit.
- "estimated_release_year": integer, the four-digit year in which you think the song was released.
- "explicitness": string, one of "clean", "mild", "explicit": profanity, sexual or violent content.
- "language": string, ISO 639-1 code of the main language of the lyrics.

Judge only from the lyrics. Give every key a value of the stated type."""

USER_TEMPLATE = """Analyse these song lyrics{truncation_note}.

Lyrics:
\"\"\"
{lyrics}
\"\"\""""

TRUNCATION_NOTE = " (only the first {max_chars} characters are shown; the song continues)"


def truncate_lyrics(lyrics: str, max_chars: int) -> tuple[str, bool]:
    """The first `max_chars` characters, cut back to the last line break when there is one in the second half,
    so the model does not see a half word; `True` when something was cut."""
    if max_chars <= 0:
        raise ValueError(f"max_lyrics_chars must be positive, got {max_chars}; fix llm_eval.max_lyrics_chars")
    lyrics = lyrics.strip()
    if len(lyrics) <= max_chars:
        return lyrics, False
    cut = lyrics[:max_chars]
    newline = cut.rfind("\n")
    if newline >= max_chars // 2:
        cut = cut[:newline]
    return cut.rstrip(), True


def build_messages(lyrics: str, max_chars: int) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for the JSON analysis of `lyrics`."""
    text, truncated = truncate_lyrics(lyrics, max_chars)
    if not text:
        raise ValueError("empty lyrics: nothing to analyse (filter rows without lyrics_clean first)")
    note = TRUNCATION_NOTE.format(max_chars=max_chars) if truncated else ""
    user = USER_TEMPLATE.format(truncation_note=note, lyrics=text)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def prompt_fingerprint() -> str:
    """Short hash of the prompt text, so that an edit without a version bump still misses the cache."""
    blob = f"{PROMPT_VERSION}\n{SYSTEM_PROMPT}\n{USER_TEMPLATE}\n{TRUNCATION_NOTE}".encode()
    return hashlib.sha1(blob).hexdigest()[:10]
