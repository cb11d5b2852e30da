"""Genius lyrics -> clean text plus section headers, and the reason a text is not usable lyrics.

Cleaning keeps the song whole: only Genius page furniture goes. Every era of the Genius page left its own
spelling of it in scraped lyrics, so each piece is described as a family anchored where Genius puts it:

- at the start (`strip_header`): "<count>[ ]Contributor(s)", an optional "Translations<languages>" run and
  "<Title> Lyrics" (2022-2025); "<Title> Lyrics" without any count (2022); then an optional description
  ending in "Read More", also in texts whose header was removed already.
- at the end (`strip_embed`): an optional count, "Embed", and the "Share URLCopyEmbedCopy" tail of 2021 pages.
- inside (`strip_widgets`): the recommendation widget under each label it had ("Related Songs" in 2022, "You
  might also like" since), with the song list glued to it, and ticket adverts.

The text is first put through the shared layout normaliser (`rap_analyzer.text.normalise_layout`: every
Unicode line break a line break, invisible characters out), so that lines here are the lines the features
count; letters and punctuation stay as written. Line and stanza breaks stay (3+ newlines become one blank
line, lines are stripped) and section headers ("[Verse 1: Nas]", "(Chorus)") move from the text into
`sections`.

Rejects are reported, never silently dropped; see `reject_reason` for the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rap_analyzer.text import fold_punctuation, normalise_layout
from rap_analyzer.text.normalise import INVISIBLE

REJECT_REASONS = ("empty", "instrumental", "non_lyrics", "too_short")

# Genius pads lyrics and titles with zero-width characters; they break word counts and header matching.
_ZERO_WIDTH = re.compile(f"[{INVISIBLE}]")

# --- page furniture: one family per place; tests/test_cleaning.py tries a sample of each era ---
_COUNT = r"\d[\d,.]*K?"  # "12", "1,234", "1.2K"
_HEADER_START = re.compile(rf"^{_COUNT} ?Contributors?")  # "12 Contributors" (2022-23), "12Contributors" (2025)
_FALLBACK_HEADER = re.compile(rf"^{_COUNT} ?Contributors?.*? Lyrics")
# "<Title> Lyrics" without a count (2022). Without the title known: a first line that ends in " Lyrics" (before a
# line break or a glued section header); no catalog or dump text has such a first line except as a header.
_BARE_TITLE_HEADER = re.compile(r"^[^\n\[]{1,200}? Lyrics[ \t]*(?=\n|\[)")
_READ_MORE = re.compile(r"Read More[ \t]*(?=\n|\[|$)")
# Genius cuts its description preview with an ellipsis before "Read More": 188 and 97 characters on the two
# fixture pages that have one (tests/test_cleaning.py measures them); a blurb is never longer than this.
BLURB_MAX_CHARS = 500
# "Embed" (2022-), "EmbedShare URLCopyEmbedCopy" (2021): the footer buttons read as text.
_EMBED_TAIL = re.compile(r"Embed(?:[ \t]*Share[ \t]*URL)?(?:[ \t]*Copy)?(?:[ \t]*Embed)?(?:[ \t]*Copy)?\s*$")
_TRAILING_COUNT = re.compile(r"(?:\d+(?:\.\d)?K|\d+)$")
_TICKETS = re.compile(r"See [^\n]{1,80}? LiveGet tickets as low as \$\d+(?:\.\d\d)?")
# Every label the recommendation widget had. "Related Songs" pages carried the song list in the HTML, glued to
# the label up to the next lyric container; "You might also like" pages load the list later, so what follows
# that label in scraped text is the next container's lyrics (the dumps: 66 songs, all lyrics), unless a
# section header on the same line shows where the container starts.
_WIDGET_LABEL = r"(?:You [Mm](?:ight|ay) [Aa]lso [Ll]ike|Related Songs)"
_WIDGET_LINE = re.compile(rf"^[ \t]*{_WIDGET_LABEL}[ \t]*\n", re.MULTILINE)
_WIDGET_TO_HEADER = re.compile(rf"{_WIDGET_LABEL}[^\n\[]*(?=\[[^\[\]\n]+\])")
_RELATED_TO_EOL = re.compile(r"Related Songs[^\n\[]*")
_WIDGET = re.compile(_WIDGET_LABEL)
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


def _title_marker(line: str, title: str | None, *, at_start: bool) -> int:
    """End of "<title> Lyrics" in `line` (first occurrence, or only at position 0), or -1. Apostrophes, quotes
    and dashes compare folded and case is ignored: the header and the metadata may type the title differently."""
    if not title:
        return -1
    marker = (fold_punctuation(normalise_layout(title)).strip() + " Lyrics").lower()
    folded = fold_punctuation(line).lower()  # same length as `line`, so positions carry over ...
    if len(folded) != len(line):  # ... unless lower-casing changed a length ("İ"): compare as typed
        folded, marker = fold_punctuation(line), fold_punctuation(normalise_layout(title)).strip() + " Lyrics"
    if at_start:
        return len(marker) if folded.startswith(marker) else -1
    pos = folded.find(marker)
    return pos + len(marker) if pos >= 0 else -1


def _header_end(text: str, title: str | None) -> int:
    first_nl = text.find("\n")
    first_line = text if first_nl < 0 else text[:first_nl]
    if _HEADER_START.match(first_line):
        # Translation names may contain " Lyrics" or the title itself: with the title known the header ends
        # at the first "<title> Lyrics", else at the first " Lyrics"; a line with neither is all header.
        end = _title_marker(first_line, title, at_start=False)
        if end < 0:
            match = _FALLBACK_HEADER.match(first_line)
            end = match.end() if match else len(first_line)
        return end
    end = _title_marker(first_line, title, at_start=True)
    if end < 0 and (match := _BARE_TITLE_HEADER.match(text)):  # the text: the look-ahead needs the "\n"
        end = match.end()
    return max(end, 0)


def strip_blurb(text: str) -> str:
    """Drop a description at the very start that ends in "Read More" (at a line end or glued to a section
    header), up to `BLURB_MAX_CHARS` long, one paragraph without section headers."""
    body = text.lstrip()
    match = _READ_MORE.search(body, 0, BLURB_MAX_CHARS + len("Read More"))
    if match is None:
        return text
    blurb = body[: match.start()]
    if "\n\n" in blurb or any(line.lstrip().startswith("[") for line in blurb.split("\n")):
        return text
    return body[match.end():]


def strip_header(text: str, title: str | None = None) -> str:
    """Drop the Genius header at the start of `text` and a "... Read More" description after it (or alone).

    Header forms: "<count>[ ]Contributor(s)[Translations<languages>]<Title> Lyrics" and "<Title> Lyrics"
    without a count (recognised with the title known, or without it where "[" is glued to " Lyrics").
    """
    text = text.lstrip()
    return strip_blurb(text[_header_end(text, title):])


def strip_embed(text: str, embed_count: int | None = None) -> str:
    """Drop the trailing "<count>Embed" and the "Share URLCopyEmbedCopy" tail older pages append. The count is
    glued to the last lyric, so "...9-5119Embed" is ambiguous; with the song's `pyongs_count` (which Genius
    prints there) only that exact count goes, without it any count does."""
    tail = _EMBED_TAIL.search(text)
    if tail is None:
        return text
    body = text[: tail.start()]
    if embed_count is not None:
        printed = format_embed_count(embed_count) if embed_count > 0 else ""
        if body.endswith(printed):
            return body.removesuffix(printed)
    return _TRAILING_COUNT.sub("", body)


def strip_widgets(text: str) -> str:
    """Drop ticket adverts and the recommendation widget (see `_WIDGET_LABEL`) from inside the lyrics.

    A label alone on its line stands where a section header was before lyricsgenius dropped headers (and their
    blank line): the stanza break stays, as it does where a "Related Songs" list runs to the line end. A label
    with a song list glued up to a section header goes with the list, and the header keeps (or gets) its own
    line. A bare label between two lyrics splits them into their two lines; the lyrics stay."""
    if "Get tickets" in text:
        text = _TICKETS.sub("", text)
    if not _WIDGET.search(text):
        return text

    def glued_after_text(match: re.Match[str]) -> bool:
        return match.start() > 0 and match.string[match.start() - 1] != "\n"

    text = _WIDGET_LINE.sub("\n", text)
    text = _WIDGET_TO_HEADER.sub(lambda m: "\n" if glued_after_text(m) else "", text)
    text = _RELATED_TO_EOL.sub("", text)
    # A bare label between two lyrics on one line: they were two lines, one in each container.
    return _WIDGET.sub(lambda m: "\n" if glued_after_text(m) and m.string[m.end():m.end() + 1] not in ("", "\n")
                       else "", text)


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
    text = normalise_layout(raw)
    text = strip_header(text, title)
    text = strip_embed(text, embed_count)
    text = strip_widgets(text)
    text = "\n".join([line.strip() for line in text.split("\n")])
    if "[" in text or "(" in text or "{" in text:
        text, sections = split_sections(text)
    else:
        sections = []
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip(), sections


def reject_reason(text: str, sections: list[str], min_words: int) -> str | None:
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
    min_words: int,
) -> CleanedLyrics:
    """Clean one song's raw lyrics. `title` helps find the end of the Genius header and `embed_count`
    (the song's `pyongs_count`) the start of the trailing "<count>Embed"; both are optional. `min_words` is
    `scrape.min_words` (see `reject_reason`)."""
    if raw is None or not raw.strip():
        return CleanedLyrics(text="", sections=[], reject_reason="empty")
    text, sections = clean_text(raw, title, embed_count)
    return CleanedLyrics(text=text, sections=sections, reject_reason=reject_reason(text, sections, min_words))
