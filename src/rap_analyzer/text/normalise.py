"""The one character normaliser shared by lyrics cleaning, tokenising and Spotify query building and matching.

Layers, each including the ones before it, so that every caller takes as much as it can afford:

- `normalise_layout` (cleaning keeps the song as written, so it takes only this): windows-1252 bytes that were
  read as C1 controls become the characters they stand for, every Unicode line break becomes "\\n", invisible
  format characters go and every other space becomes " ".
- `fold_punctuation`: every apostrophe look-alike becomes "'", typographic double quotes '"', dashes "-". One
  character for one character, so positions found in the folded text hold in the original (cleaning uses that
  to find a title in the Genius header however its apostrophes are typed).
- `fold_text` (tokenising, matching): compatibility decomposition (NFKD: ligatures, full-width forms,
  "…" -> "..."), combining marks removed, and the Latin letters that have no decomposition ("ł", "ø", "ß", "æ",
  "ı") transliterated by `anyascii`. Letters of other scripts stay as they are.
- `match_key`: `fold_text`, case-folded, apostrophes dropped ("don't" = "dont"), everything that is not a letter,
  digit or mark a single space: what two names are compared on, in any script.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

# Windows-1252 bytes decoded as Latin-1 arrive as C1 controls (U+0080-U+009F): "What\x92s", "(\x85)". Browsers read
# them as windows-1252 (WHATWG HTML, "numeric character reference end state", replacement table), and so does
# this, leaving the five bytes windows-1252 does not define as they are (they are parts of UTF-8 mojibake such
# as "â€\x9d", which a repair needs whole). U+0085 is therefore the ellipsis it is in every scraped text we have
# (the catalog's two), not a NEXT LINE break.
_C1 = {b: bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(0x80, 0xA0)}
_HAS_C1 = re.compile("[\x80-\x9f]")

# Every code point `str.splitlines` breaks at (Unicode line boundaries: CR, LF, VT, FF, FS, GS, RS, LS, PS), less
# U+0085 which `_C1` has turned into "…" already; "\r\n" is one break.
LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\u2028\u2029"

# Invisible format characters: zero-width space/joiners, word joiner, byte-order mark, soft hyphen, bidi marks,
# embeddings and isolates. Genius pads lyrics and titles with them; they split words and defeat exact matches.
INVISIBLE = (
    "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064"
    "\u2066\u2067\u2068\u2069\ufeff"
)
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
# Every space separator but " " (Unicode category Zs: no-break, ogham, en/em, thin, hair, narrow no-break, medium
# mathematical, ideographic) and the tab.
SPACES = "\t\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"

# Apostrophe look-alikes: the punctuation, symbols and modifier letters that Unicode's confusables.txt maps to
# U+0027 APOSTROPHE (letters of other scripts left out), the single quotation marks, and the acute/grave accents
# typed for an apostrophe ("don´t", "can`t").
APOSTROPHES = (
    "\u2018\u2019\u201a\u201b\u2032\u2035\u055a\u05f3\u0060\u00b4\u0384\u1fbd\u1fbf\u1fef\u1ffd\u1ffe"
    "\u02b9\u02bb\u02bc\u02bd\u02be\u02c8\u02ca\u02cb\u02f4\u0374\ua78c\uff07\uff40"
)
# Double quotation marks, guillemets, double primes and the Hebrew gershayim.
DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u2039\u203a\u301d\u301e\u301f\u05f4\uff02"
# Every dash of the Basic Multilingual Plane (Unicode category Pd, less "-" itself) and the minus sign.
DASHES = (
    "\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d"
    "\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\u2212"
)
_PUNCTUATION = {**dict.fromkeys(APOSTROPHES, "'"), **dict.fromkeys(DOUBLE_QUOTES, '"'), **dict.fromkeys(DASHES, "-")}
_PUNCTUATION_CHARS = re.compile(f"[{re.escape(''.join(_PUNCTUATION))}]")
# Anything `normalise_layout` changes; one scan decides whether a text needs more than that scan.
_LAYOUT_CHARS = re.compile(f"[\x80-\x9f{INVISIBLE}{LINE_BREAKS}{SPACES}]")

# Kana voicing marks are combining marks too, but "ga" is not "ka": they stay.
_KEPT_MARKS = frozenset("\u3099\u309a")
_NOT_ASCII_WORD = re.compile(r"[^a-z0-9]+")


def normalise_layout(text: str) -> str:
    """C1 controls read as windows-1252, every line break "\\n", invisible format characters removed, every other
    space (tab, no-break, typographic) a plain space. Letters, digits and punctuation stay as written."""
    if not _LAYOUT_CHARS.search(text):  # most lines of most lyrics
        return text
    if not text.isascii():
        if _HAS_C1.search(text):
            text = text.translate(_C1)
        text = _INVISIBLE.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    for char in LINE_BREAKS:
        if char in text:
            text = text.replace(char, "\n")
    for char in SPACES:
        if char in text:
            text = text.replace(char, " ")
    return text


def fold_punctuation(text: str) -> str:
    """Apostrophe look-alikes -> "'", double quotes -> '"', dashes -> "-"; one character for one, so the result
    has the length of `text` (apply `normalise_layout` first where C1 controls may occur)."""
    if text.isascii() and "`" not in text:
        return text
    return _PUNCTUATION_CHARS.sub(lambda m: _PUNCTUATION[m.group()], text)


@lru_cache(maxsize=4096)
def _latin_ascii(char: str) -> str:
    # Only Latin letters: other scripts are words of their own language, not misspelled English.
    return anyascii(char) if unicodedata.name(char, "").startswith("LATIN ") else char


def _fold_chars(text: str) -> str:
    out = []
    for char in unicodedata.normalize("NFKD", text):
        if char.isascii():
            out.append(char)
        elif unicodedata.category(char) in ("Mn", "Me") and char not in _KEPT_MARKS:
            continue  # accents, Zalgo stacks; spacing marks (Mc: Devanagari vowel signs) are parts of letters
        else:
            out.append(_latin_ascii(char))
    return unicodedata.normalize("NFC", "".join(out))


def fold_text(text: str) -> str:
    """`fold_punctuation(normalise_layout(text))`, then compatibility-decomposed (NFKD) with combining marks
    removed (kana voicing marks kept), Latin letters without a decomposition transliterated (`anyascii`:
    "ł" -> "l", "ß" -> "ss", "ı" -> "i") and recomposed (NFC, so Hangul syllables come back whole).

    Case is kept; letters of non-Latin scripts are kept. Pure ASCII text comes back unchanged except for line
    breaks, tabs and backticks."""
    text = fold_punctuation(normalise_layout(text))
    return text if text.isascii() else _fold_chars(text)


def match_key(text: str) -> str:
    """`fold_text`, case-folded, apostrophes removed, every run of characters that are not letters or digits
    (of any script) one space, no space at either end: "Don’t Stop (Ночь)" -> "dont stop ночь"."""
    folded = fold_text(text).casefold().replace("'", "")
    if folded.isascii():
        return " ".join(_NOT_ASCII_WORD.sub(" ", folded).split())
    return " ".join("".join(c if unicodedata.category(c)[0] in "LNM" else " " for c in folded).split())
