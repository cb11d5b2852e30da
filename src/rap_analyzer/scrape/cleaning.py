"""Genius lyrics -> clean text plus section headers, and the reason a text is not usable lyrics.

Cleaning keeps the song whole: only Genius page furniture goes (the "NNN Contributors...<Title> Lyrics"
header, an optional description ending in "Read More", "You might also like", ticket adverts and the
trailing "<count>Embed"). Line and stanza breaks stay (3+ newlines become one blank line, lines are
stripped) and section headers ("[Verse 1: Nas]", "(Chorus)") move from the text into `sections`.

Rejects are reported, never silently dropped; see `reject_reason` for the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rap_analyzer.config import ScrapeParams

DEFAULT_MIN_WORDS: int = ScrapeParams.model_fields["min_words"].default

REJECT_REASONS = ("empty", "instrumental", "non_lyrics", "too_short")

# Genius pads lyrics with zero-width and typographic spaces; they break word counts and header matching.
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_ODD_SPACES = re.compile(r"[\xa0\u2000-\u200a\u202f\u205f\u3000\t]")
_HEADER_START = re.compile(r"^\d[\d,.]*K? Contributors?")
_FALLBACK_HEADER = re.compile(r"^\d[\d,.]*K? Contributors?.*? Lyrics")
_READ_MORE = re.compile(r"^[^\n]*?Read More[ \t]*(?:\n|$)")
_EMBED = re.compile(r"(?:\d+(?:\.\d)?K|\d+)?Embed\s*$")
_TICKETS = re.compile(r"See [^\n]{1,80}? LiveGet tickets as low as \$\d+(?:\.\d\d)?")
_YMAL_LINE = re.compile(r"^[ \t]*You might also like[ \t]*\n", re.MULTILINE)
_YMAL = "You might also like"
_BLANK_RUNS = re.compile(r"\n{3,}")

_KEYWORDS = (
    r"(?:intro|verse|chorus|hook|pre-?chorus|pre-?hook|post-?chorus|bridge|outro|refrain|interlude|skit"
    r"|break|breakdown|instrumental)"
)
_TIMES = r"(?:x[ \t]*)?\d+[ \t]*x?"  # "x2", "2x", "2"
_REPEAT = rf"(?:[ \t]*[:\-]?[ \t]*(?:\([ \t]*{_TIMES}[ \t]*\)|\[[ \t]*{_TIMES}[ \t]*\]|x[ \t]*\d+|\d+[ \t]*x))?"
# A header line is one or more [..] groups (Genius convention), or a (..)/{..} group that starts with a
# section keyword: bare brackets around a lyric are rarer than headers, parentheses are mostly ad-libs.
# A [..] group glued to the start of a lyric ("[Hook]Nate Dogg") is a header too.
_HEADER = re.compile(
    rf"^[ \t]*(?:(?P<h>(?:\[[^\[\]\n]+\][ \t]*)+"
    rf"|\([ \t]*{_KEYWORDS}\b[^\n]*\)|\{{[ \t]*{_KEYWORDS}\b[^{{}}\n]*\}})"
    rf"{_REPEAT}[ \t]*:?[ \t]*(?:\n|$)|(?P<g>\[[^\[\]\n]+\])[ \t]*:?[ \t]*(?=[^\s\[:]))",
    re.IGNORECASE | re.MULTILINE,
)
_NOT_SECTIONS = re.compile(r"^\[(?:produced by|prod\.)", re.IGNORECASE)

_INSTRUMENTAL_TEXT = re.compile(r"^\W*(?:this song is an? )?instrumental\W*$", re.IGNORECASE)
# Placeholder pages: Genius' own sentences anywhere in a short text, community notes only as the whole text
# (so that "Crystal Meth coming soon!" in a spoken outro is no placeholder).
_PLACEHOLDER = re.compile(
    r"lyrics (?:for this song )?(?:have|has) yet to be (?:released|transcribed)"
    r"|lyrics (?:upon release|(?:have|has) not (?:yet )?been released)"
    r"|\bwill be available (?:upon|when|as soon as|once)"
    r"|this song (?:has no lyrics|does not exist)",
    re.IGNORECASE,
)
_PLACEHOLDER_WHOLE = re.compile(
    r"\W*(?:(?:(?:no )?lyrics (?:yet|coming soon|not (?:yet )?available)|no lyrics|n/a|tba|tbd)\W*"
    r"|(?:in progress|coming soon)\b.*)",
    re.IGNORECASE | re.DOTALL,
)
PLACEHOLDER_MAX_WORDS = 30
_TRACK_LINES = re.compile(r"^\d{1,2}[ \t]*[.)\-–][ \t]*\S", re.MULTILINE)
# A numbered line with a link counts twice here; lists of either kind are what this is after.
_URL_LINES = re.compile(r"^(?!\d{1,2}[ \t]*[.)\-–][ \t]*\S).*(?:https?://|www\.)", re.IGNORECASE | re.MULTILINE)
_EDITORIAL = re.compile(r"^(?:rap )?genius (?:note|annotation)|^tracklist\b|^liner notes\b", re.IGNORECASE)
# Prose (liner notes, interviews, letters, screenplays) has long lines. Measured on the curated Genius
# dumps (1,561 songs, 4 genres): median 7.7 and maximum 13.2 words per line; the catalog has 217 texts
# above 30, all speeches, notes or lyrics pasted without line breaks (useless for line-based features).
# tests/test_cleaning.py checks that no dump song reaches this bound.
PROSE_WORDS_PER_LINE = 30
LIST_MIN_LINES = 4


@dataclass(slots=True)
class CleanedLyrics:
    text: str
    sections: list[str] = field(default_factory=list)
    reject_reason: str | None = None

    @property
    def n_words(self) -> int:
        return len(self.text.split())


def strip_zero_width(text: str) -> str:
    return _ZERO_WIDTH.sub("", text)


def format_embed_count(count: int) -> str:
    """Genius prints counts >= 1000 as "1.1K" and drops a trailing ".0" ("2K")."""
    if count < 1000:
        return str(count)
    return f"{count / 1000:.1f}".removesuffix(".0") + "K"


def strip_header(text: str, title: str | None = None) -> str:
    """Drop "NNN Contributors[Translations<languages>]<Title> Lyrics" and a "... Read More" description.

    With the title known the header ends at the first "<title> Lyrics" (translation names may contain
    " Lyrics" or the title itself); without it, at the first " Lyrics". A first line that starts like a
    header but has neither is all header and goes whole.
    """
    if not _HEADER_START.match(text):
        return text
    first_nl = text.find("\n")
    first_line = text if first_nl < 0 else text[:first_nl]
    end = -1
    if title:
        marker = _ZERO_WIDTH.sub("", title).strip() + " Lyrics"
        pos = first_line.find(marker)
        if pos >= 0:
            end = pos + len(marker)
    if end < 0:
        match = _FALLBACK_HEADER.match(first_line)
        end = match.end() if match else len(first_line)
    rest = text[end:]
    return _READ_MORE.sub("", rest, count=1) if "Read More" in rest[:3000] else rest


def strip_embed(text: str, embed_count: int | None = None) -> str:
    """Drop the trailing "<count>Embed". The count is glued to the last lyric, so "...9-5119Embed" is
    ambiguous; with the song's `pyongs_count` (which Genius prints there) only that exact count goes."""
    if not text.rstrip().endswith("Embed"):
        return text
    body = text.rstrip().removesuffix("Embed")
    if embed_count is not None:
        printed = format_embed_count(embed_count) if embed_count > 0 else ""
        if body.endswith(printed):
            return body.removesuffix(printed)
    return _EMBED.sub("", text)


def split_sections(text: str) -> tuple[str, list[str]]:
    """Move header lines out of the text; the stanza breaks they sat in stay."""
    sections: list[str] = []

    def take(match: re.Match[str]) -> str:
        header = (match.group("h") or match.group("g")).strip()
        if not _NOT_SECTIONS.match(header):
            sections.append(header)
        return ""

    return _HEADER.sub(take, text), sections


def clean_text(raw: str, title: str | None = None, embed_count: int | None = None) -> tuple[str, list[str]]:
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _ODD_SPACES.sub(" ", _ZERO_WIDTH.sub("", text))
    text = strip_header(text, title)
    text = strip_embed(text, embed_count)
    if "Get tickets" in text:
        text = _TICKETS.sub("", text)
    if _YMAL in text:
        # A lone "You might also like" line sits between two Genius lyric containers, which is where a
        # section header was before lyricsgenius dropped headers (and their blank line): keep the break.
        text = _YMAL_LINE.sub("\n", text).replace(_YMAL, "")
    text = "\n".join([line.strip() for line in text.split("\n")])
    if "[" in text or "(" in text or "{" in text:
        text, sections = split_sections(text)
    else:
        sections = []
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip(), sections


def reject_reason(text: str, sections: list[str], min_words: int = DEFAULT_MIN_WORDS) -> str | None:
    """Why a cleaned text is not usable lyrics, or None. Checked in this order:

    - "empty": no text and no headers.
    - "instrumental": no words left except an instrumental marker ("[Instrumental]", "(instrumental)",
      Genius' "This song is an instrumental").
    - "non_lyrics": a short placeholder ("lyrics for this song have yet to be released", "no lyrics yet",
      "N/A"); an editorial page ("Rap Genius note", "Tracklist", "Liner notes" at the start); a list where
      most lines are numbered tracks or links; or prose, i.e. more than PROSE_WORDS_PER_LINE words per
      line on average.
    - "too_short": fewer than `min_words` words.
    """
    words = text.split()
    if not words:
        if any("instrumental" in s.lower() for s in sections):
            return "instrumental"
        return "empty"
    n_words = len(words)
    if n_words <= 5 and _INSTRUMENTAL_TEXT.match(text):
        return "instrumental"
    if n_words <= PLACEHOLDER_MAX_WORDS and (_PLACEHOLDER.search(text) or _PLACEHOLDER_WHOLE.fullmatch(text)):
        return "non_lyrics"
    if _EDITORIAL.match(text):
        return "non_lyrics"
    # Lines are stripped and blank runs collapsed, so every "\n\n" is exactly one blank line.
    n_lines = text.count("\n") - text.count("\n\n") + 1
    has_url = "://" in text or "www." in text.lower()
    if n_lines >= LIST_MIN_LINES:
        listed = len(_TRACK_LINES.findall(text)) + (len(_URL_LINES.findall(text)) if has_url else 0)
        if listed * 2 > n_lines:
            return "non_lyrics"
    elif has_url and n_words <= PLACEHOLDER_MAX_WORDS:
        return "non_lyrics"
    if n_words >= min_words and n_words / n_lines > PROSE_WORDS_PER_LINE:
        return "non_lyrics"
    if n_words < min_words:
        return "too_short"
    return None


def clean_lyrics(
    raw: str | None,
    *,
    title: str | None = None,
    embed_count: int | None = None,
    min_words: int = DEFAULT_MIN_WORDS,
) -> CleanedLyrics:
    """Clean one song's raw lyrics. `title` helps find the end of the Genius header and `embed_count`
    (the song's `pyongs_count`) the start of the trailing "<count>Embed"; both are optional."""
    if raw is None or not raw.strip():
        return CleanedLyrics(text="", sections=[], reject_reason="empty")
    text, sections = clean_text(raw, title, embed_count)
    return CleanedLyrics(text=text, sections=sections, reject_reason=reject_reason(text, sections, min_words))
