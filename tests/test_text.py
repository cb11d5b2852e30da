"""The shared text normaliser (`rap_analyzer.text`): layout, punctuation, letters, title and artist keys.

Oracles: Python's own Unicode database (`str.splitlines`, `unicodedata.category/decomposition/name`) for what
counts as a line break, a space, a dash or a letter without decomposition; hand-written expectations otherwise.
"""

from __future__ import annotations

import unicodedata

import pytest

from rap_analyzer.text import (
    fold_punctuation,
    fold_text,
    match_key,
    normalise_artist,
    normalise_layout,
    normalise_title,
    primary_artist,
    title_parts,
)
from rap_analyzer.text.normalise import APOSTROPHES, DASHES, DOUBLE_QUOTES

BMP = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]


# --- layout ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("brk", ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\u2028", "\u2029"])
def test_every_unicode_line_break_is_a_line_break(brk: str) -> None:
    text = f"first line{brk}second line{brk}{brk}third"
    assert normalise_layout(text).split("\n") == text.splitlines()  # Python's definition of a line boundary


def test_every_line_break_python_knows_is_covered() -> None:
    # str.splitlines breaks at exactly these (and U+0085, which is windows-1252's "…" here: see the next test).
    breakers = {c for c in BMP if len(f"a{c}b".splitlines()) == 2}
    assert breakers == {"\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}
    assert all(normalise_layout(f"a{c}b") == "a\nb" for c in breakers - {"\x85"})


def test_c1_controls_are_read_as_windows_1252() -> None:
    # The catalog's Snoop Dogg "Ridaman" has "What\x92s"; Tupac "Ride or Die" has "\x85 no fun".
    assert normalise_layout("What\x92s (\x85)") == "What\u2019s (\u2026)"
    assert normalise_layout("\x93quoted\x94 \x96") == "\u201cquoted\u201d \u2013"
    # Bytes windows-1252 leaves undefined stay: they belong to mojibake ("â€\x9d") that only a repair can read.
    assert normalise_layout("\u00e2\u20ac\x9d") == "\u00e2\u20ac\x9d"


def test_spaces_and_invisible_characters() -> None:
    spaces = [c for c in BMP if unicodedata.category(c) == "Zs"]
    assert len(spaces) == 17  # Unicode 14: space, no-break, ogham, en/em quad.., narrow no-break, medium, ideographic
    assert all(normalise_layout(f"a{c}b") == "a b" for c in spaces)
    assert normalise_layout("a\tb") == "a b"
    assert normalise_layout("\ufeffsoft\u00adly\u200b zero\u200dwidth\u2060") == "softly zerowidth"
    kept = "letters, digits 123 and ’punctuation’ stay"
    assert normalise_layout(kept) == kept


# --- punctuation ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "folded"), [
    ("don\u00b4t", "don't"),  # acute accent
    ("can`t", "can't"),  # grave accent
    ("y\u2032all", "y'all"),  # prime
    ("rock \u2018n\u2019 roll", "rock 'n' roll"),  # single quotation marks
    ("ain\u02bct", "ain't"),  # modifier letter apostrophe
    ("it\uff07s", "it's"),  # full-width apostrophe
    ("\u201cquote\u201d \u201equote\u201c \u00abquote\u00bb", '"quote" "quote" "quote"'),
    ("a\u2014b\u2013c\u2212d\u2011e", "a-b-c-d-e"),
])
def test_punctuation_look_alikes_fold(typed: str, folded: str) -> None:
    assert fold_punctuation(typed) == folded


def test_every_dash_folds_and_folding_keeps_positions() -> None:
    dashes = {c for c in BMP if unicodedata.category(c) == "Pd"} - {"-"}
    assert dashes <= set(DASHES)
    assert all(fold_punctuation(c) == "-" for c in dashes | {"\u2212"})
    everything = APOSTROPHES + DOUBLE_QUOTES + DASHES
    folded = fold_punctuation(everything)
    assert len(folded) == len(everything) and set(folded) == {"'", '"', "-"}
    # Every apostrophe look-alike is punctuation, a symbol or a modifier: no script's letter is folded away.
    assert {unicodedata.category(c) for c in APOSTROPHES} <= {"Pi", "Pf", "Ps", "Po", "Sk", "Lm", "Ll"}
    assert [c for c in APOSTROPHES if unicodedata.category(c) == "Ll"] == ["\ua78c"]  # LATIN SMALL LETTER SALTILLO


# --- letters --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("letter", "ascii_"), [
    ("\u0142", "l"), ("\u00f8", "o"), ("\u00df", "ss"), ("\u00e6", "ae"), ("\u0131", "i"), ("\u0111", "d"),
    ("\u00fe", "th"), ("\u0153", "oe"), ("\u0259", "e"),
])
def test_latin_letters_without_decomposition_are_transliterated(letter: str, ascii_: str) -> None:
    assert unicodedata.decomposition(letter) == ""  # what NFKD cannot take apart
    assert unicodedata.normalize("NFKD", letter) == letter
    assert fold_text(f"x{letter}y") == f"x{ascii_}y"


def test_marks_go_and_other_scripts_stay() -> None:
    assert fold_text("caf\u00e9") == fold_text("cafe\u0301") == "cafe"  # composed and decomposed accents
    assert fold_text("Z\u0338\u0321a\u0337l\u0336g\u0335o") == "Zalgo"
    assert fold_text("\u2026 \ufb01 \uff46\uff55\uff4c\uff4c") == "... fi full"  # compatibility forms
    # Cyrillic "й" is "и" + breve: the breve goes, the letters stay Cyrillic.
    assert fold_text("\u041d\u043e\u0447\u043d\u043e\u0439") == "\u041d\u043e\u0447\u043d\u043e\u0438"
    assert fold_text("\ud55c\uad6d\uc5b4") == "\ud55c\uad6d\uc5b4"  # Hangul syllables recomposed
    assert fold_text("\u304c") == "\u304c"  # kana voicing mark kept: "ga" is not "ka"
    assert fold_text("\u0645\u0648\u0633\u064a\u0642\u0649") == "\u0645\u0648\u0633\u064a\u0642\u0649"
    assert fold_text("\u3042\u308a\u304c\u3068\u3046") == "\u3042\u308a\u304c\u3068\u3046"


def test_match_key() -> None:
    assert match_key("Don\u2019t  Stop (\u041d\u043e\u0447\u044c)!") == "dont stop \u043d\u043e\u0447\u044c"
    assert match_key("\u0399\u03a3\u03a4\u039f\u03a1\u0399\u0391") == "\u03b9\u03c3\u03c4\u03bf\u03c1\u03b9\u03b1"
    assert match_key("!!! ... ???") == ""


# --- titles and artists ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "key"), [
    ("Versace (Remix) [feat. Drake]", "versace remix"),  # a remix is another recording; the credit goes
    ("Versace - Remastered 2013", "versace"),
    ("Go ft. Drake", "go"),
    ("(Intro)", "intro"),
    ("i (Album Version)", "i"),
    ("Song (Radio Edit)", "song"),
    ("Song - 2011 Remaster", "song"),
    ("Song (Explicit)", "song"),
    ("Song (with Drake)", "song"),
    ("Cold Streets (Remix)", "cold streets remix"),
    ("Cold Streets - Skrillex Remix", "cold streets remix"),
    ("Hysteria - Live at Wembley", "hysteria live"),
    ("Song (Sped Up)", "song sped up"),
    ("Song - Slowed + Reverb", "song slowed"),
    ("Song (Acoustic) [Live]", "song acoustic live"),
    ("Love Story (Taylor\u2019s Version)", "love story taylors version"),
    ("The Recipe, Pt. II", "the recipe part 2"),
    ("Sing About Me (Part 2)", "sing about me part 2"),
    ("\u041d\u043e\u0447\u043d\u043e\u0439 \u0433\u043e\u0440\u043e\u0434 (Night City)",
     "\u043d\u043e\u0447\u043d\u043e\u0438 \u0433\u043e\u0440\u043e\u0434"),  # the translation is an extra
    ("Love & War", "love and war"),
    ("Wanna Be Startin\u2019 Somethin\u2019", "wanna be startin somethin"),
])
def test_normalise_title(title: str, key: str) -> None:
    assert normalise_title(title) == key


def test_title_parts_keep_extras_and_part_numbers_apart() -> None:
    parts = title_parts("(Don't Fear) The Reaper - 2011 Remaster")
    assert (parts.core, parts.extras, parts.versions) == ("the reaper", ("dont fear",), frozenset())
    assert parts.variants == ("the reaper", "the reaper dont fear")
    assert title_parts("The Recipe (Pt. 2) [feat. X]").query == "The Recipe Pt. 2"
    assert title_parts("Part II (On the Run)").part == title_parts("Part 2").part == 2
    assert title_parts("Chapter IV, Pt. iv").part == 4
    assert title_parts("Part Time Lover").part is None  # "part" is a word here, not a number marker


@pytest.mark.parametrize(("name", "key"), [
    ("The Notorious B.I.G.", "notorious b i g"),
    ("Eric B. & Rakim", "eric b and rakim"),
    ("Tyler, The Creator", "tyler the creator"),
    ("Lil Nas X", "lil nas x"),
    ("Drake feat. Rihanna", "drake"),
    ("Beyonc\u00e9", "beyonce"),
    ("R\u00f8yksopp", "royksopp"),
    ("\u041a\u0438\u043d\u043e", "\u043a\u0438\u043d\u043e"),
    ("\u0411\u0422\u0421", "\u0431\u0442\u0441"),
])
def test_normalise_artist(name: str, key: str) -> None:
    assert normalise_artist(name) == key


def test_primary_artist_splits_only_featuring_credits() -> None:
    assert primary_artist("Mark Ronson featuring Bruno Mars") == "Mark Ronson"
    assert primary_artist("Jay-Z Ft. Kanye West") == "Jay-Z"
    for single in ("Eric B. & Rakim", "Earth, Wind & Fire", "Lil Nas X", "Mumford and Sons", "Tyler, The Creator"):
        assert primary_artist(single) == single
