"""Song titles and artist names as comparable keys: what Spotify matching compares and cross-source
de-duplication groups on.

A title is read as a core plus the parts Genius puts in brackets and Spotify after " - ", each sorted by what it
says about the recording:

- credits ("feat. X", "ft. X", "with X", "prod. X") and markers that do not change the recording ("Remastered
  2011", "2011 Remaster", "Radio Edit", "Album Version", "Explicit", "Clean", "Mono", "Bonus Track", "From
  <film>") are dropped;
- part numbers ("Pt. 2", "Part II") are part of the title: "part 2";
- version words ("Remix", "Live", "Instrumental", "Acoustic", "Sped Up", "Slowed", "A Cappella", "Demo",
  "Extended", "Reprise", "<word> Version" such as "Taylor's Version") name another recording and are kept apart
  so that a comparison can weigh them;
- anything else in brackets (a subtitle, or the translation Genius appends to a non-English title:
  "Ночной город (Night City)") is an optional extra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rap_analyzer.text.normalise import fold_punctuation, match_key, normalise_layout

_BRACKETS = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]|\{([^{}]*)\}")
_DASH_PARTS = re.compile(r"\s+-\s+")
_INLINE_CREDIT = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s.*$", re.IGNORECASE)
# A bracket or dash part that starts with one of these is a credit, not part of the title.
# "with" only in lower case, as Spotify writes its credits: "(With You)" is a subtitle.
_CREDIT = re.compile(r"(?i:feat|ft|featuring|prod|produced by)\b|with\s")
# Two years ("1994/2011") as the match key writes them: the "/" is a space there.
_YEAR = r"(?:\d{4}(?: \d{4})?)"
# Markers that name the same recording (on the match key: lower case, words separated by one space).
_SAME_RECORDING = re.compile(
    rf"(?:(?:{_YEAR} )?(?:digital(?:ly)? )?remaster(?:ed)?(?: {_YEAR})?(?: (?:version|edition|mix))?(?: {_YEAR})?"
    r"|(?:radio|single|album|original|main|lp|studio|explicit|clean|dirty|censored|uncensored|short|mono|stereo"
    r"|remastered) (?:edit|version|mix|edition)"
    r"|explicit|clean|dirty|censored|uncensored|edit|edited|mono|stereo|original|bonus(?: track)?"
    r"|(?:deluxe|expanded|anniversary)(?: edition| version)?"
    r"|(?:taken )?from .+|(?:original )?(?:motion picture )?soundtrack(?: .+)?)",
)
# Version word -> canonical name; searched as whole words in a part's match key.
_VERSIONS = (
    ("remix", re.compile(r"\b(?:remix(?:ed|es)?|rmx|rework|refix|bootleg|(?:club|dub|vip) mix)\b")),
    ("live", re.compile(r"\b(?:live|unplugged)\b")),
    ("acoustic", re.compile(r"\bacoustic\b")),
    ("instrumental", re.compile(r"\binstrumental\b")),
    ("a cappella", re.compile(r"\b(?:a ?cappella|acapella)\b")),
    ("sped up", re.compile(r"\b(?:sped up|speed up|nightcore)\b")),
    ("slowed", re.compile(r"\b(?:slowed|reverb|screwed|chopped)\b")),
    ("demo", re.compile(r"\bdemo\b")),
    ("extended", re.compile(r"\bextended\b")),
    ("reprise", re.compile(r"\breprise\b")),
    ("karaoke", re.compile(r"\bkaraoke\b")),
)
# "<word> version" names another recording unless the word is one of the same-recording markers above.
_NAMED_VERSION = re.compile(r"\b(\w+) version\b")
_PART = re.compile(r"\b(?:part|pt)\s*(\d{1,3}|[ivx]{1,5})\b")
_ROMAN = {"i": 1, "v": 5, "x": 10}


def _roman(numeral: str) -> int:
    """Roman numerals up to 39 (part numbers), subtractive notation included ("iv" = 4)."""
    values = [_ROMAN[c] for c in numeral]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def _part_number(key: str) -> tuple[str, int | None]:
    """(key with "pt. ii"-style numbers written "part 2", the last part number or None)."""
    number: int | None = None

    def canonical(match: re.Match[str]) -> str:
        nonlocal number
        raw = match.group(1)
        number = int(raw) if raw.isdigit() else _roman(raw)
        return f"part {number}"

    return _PART.sub(canonical, key), number


@dataclass(frozen=True, slots=True)
class TitleParts:
    """A title taken apart (see the module docstring). Keys are `match_key`s: case-folded, any script."""

    core: str  # the title without credits, markers and extras; part numbers in it as "part N"
    versions: frozenset[str] = frozenset()  # canonical version words: "remix", "live", "taylors version"...
    part: int | None = None  # the part number, wherever it was written
    extras: tuple[str, ...] = ()  # subtitles and translations in brackets, in order
    query: str = ""  # the core as written (credits and brackets out, part number in): what a search sends
    variants: tuple[str, ...] = ()  # the core, and the core with its extras: what matching tries


def _title_key(text: str) -> str:
    return match_key(text.replace("&", " and "))


def _classify(part: str) -> tuple[str, str | None]:
    """("credit" | "same" | "version" | "part" | "extra", the match key of the part)."""
    if _CREDIT.match(part.strip()):
        return "credit", None
    key = match_key(part)
    if not key:
        return "same", None
    if _SAME_RECORDING.fullmatch(key):
        return "same", key
    if _PART.fullmatch(key):
        return "part", key
    if any(pattern.search(key) for _, pattern in _VERSIONS) or _NAMED_VERSION.search(key):
        return "version", key
    return "extra", key


def _version_words(key: str) -> set[str]:
    words = {name for name, pattern in _VERSIONS if pattern.search(key)}
    for word in _NAMED_VERSION.findall(key):
        named = f"{word} version"
        if not _SAME_RECORDING.fullmatch(named) and not any(p.fullmatch(word) for _, p in _VERSIONS):
            words.add(named)
    return words


def title_parts(title: str) -> TitleParts:
    """Take a title apart: "Cold Streets (Remix) [feat. X]" -> core "cold streets", versions {"remix"};
    "The Recipe, Pt. II - 2012 Remaster" -> core "the recipe part 2", part 2; "Ночной город (Night City)" ->
    core "ночной город", extras ("night city",). A title that is all brackets ("(Intro)") is its own core."""
    text = fold_punctuation(normalise_layout(title)).strip()
    head, *tails = _DASH_PARTS.split(text)
    pieces = [m.group(1) or m.group(2) or m.group(3) or "" for m in _BRACKETS.finditer(head)] + tails
    written = _INLINE_CREDIT.sub("", _BRACKETS.sub(" ", head))
    versions: set[str] = set()
    extras: list[str] = []
    part_words: list[str] = []
    for piece in pieces:
        kind, key = _classify(piece)
        if kind == "version" and key:
            versions |= _version_words(key)
        elif kind == "part":
            part_words.append(piece.strip())
        elif kind == "extra" and key:
            extras.append(key)
    written = " ".join([*written.split(), *part_words])
    core, part = _part_number(_title_key(written))
    if not core:  # "(Intro)", "[Untitled]": the brackets are the title
        written = " ".join(re.sub(r"[()\[\]{}]", " ", text).split())
        core, part = _part_number(_title_key(written))
        versions, extras = set(), []
    variants = (core, " ".join([core, *extras])) if extras else (core,)
    return TitleParts(core, frozenset(versions), part, tuple(extras), written, variants)


def normalise_title(title: str) -> str:
    """One key per recording: the core, part number included, then the version words in alphabetical order.

    "Versace (Remix) [feat. Drake]" -> "versace remix"; "Versace - Remastered 2013" -> "versace"; "Go ft. Drake"
    -> "go"; "Sing About Me, Pt. II" -> "sing about me part 2"; "Ночной город (Night City)" -> "ночной город".
    Letters of every script are kept (case-folded, accents off); "" only for a title with no letters or digits.
    """
    parts = title_parts(title)
    return " ".join([parts.core, *sorted(parts.versions)]).strip()


_FEATURING_TAIL = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s.*$", re.IGNORECASE)
_LEADING_THE = re.compile(r"^the (?=\S)")


def primary_artist(credit: str) -> str:
    """The credit without a featuring tail: "Drake feat. Rihanna" -> "Drake". Nothing else is split: "&", ",",
    "and", "x" and "with" occur inside single artists' names ("Eric B. & Rakim", "Tyler, The Creator",
    "Lil Nas X")."""
    return _FEATURING_TAIL.sub("", fold_punctuation(normalise_layout(credit))).strip()


def normalise_artist(name: str) -> str:
    """An artist's name as a key: `primary_artist`, "&" read as "and", `match_key`, a leading "the" dropped.

    "The Notorious B.I.G." -> "notorious b i g"; "Eric B. & Rakim" -> "eric b and rakim"; "Кино" -> "кино".
    """
    key = match_key(primary_artist(name).replace("&", " and "))
    return _LEADING_THE.sub("", key)
