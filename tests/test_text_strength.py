"""The shared text normaliser and title keys, marker by marker (issue 16: the bugs a one-line change would plant).

Oracles: the windows-1252 code chart and Unicode's character database (`unicodedata.category/name`) written out
in the tests, and title keys worked out by hand from the rules in `text/titles.py`'s docstring. A marker that
names the same recording must leave nothing behind: no version word in the key and no optional extra either
(Spotify matching tries every extra as another spelling of the title)."""

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
    title_parts,
)

# --- layout and punctuation: what each layer must leave alone ---------------------------------------------------


def test_plain_letters_pass_every_layer_unchanged() -> None:
    # Each character list (line breaks, spaces, invisibles, apostrophes, quotes, dashes) holds no ASCII letter.
    for text in ("XAZ", "XAZ\u00e9"):  # pure ASCII takes the fast paths; one accent takes the slow ones
        assert normalise_layout(text) == text
        assert fold_punctuation(text) == text
    assert normalise_layout("X\u00a0Z") == "X Z"
    assert normalise_layout("X\u200bZ\u2028") == "XZ\n"
    assert fold_punctuation("X\u2019Z\u201cX\u2014Z") == "X'Z\"X-Z"
    assert fold_text("X\u00e9Z") == "XeZ"
    assert match_key("X\u2019Z \u00c9") == "xz e"


def test_c1_range_ends_and_undefined_bytes() -> None:
    # windows-1252: 0x80 is the euro sign, 0x9F is Y with diaeresis; 0x81, 0x8D, 0x8F, 0x90 and 0x9D are undefined.
    assert normalise_layout("a\x80b\x9fc") == "a\u20acb\u0178c"
    undefined = "\x81\x8d\x8f\x90\x9d"
    assert normalise_layout(f"a{undefined}b") == f"a{undefined}b"
    assert normalise_layout("\x85") == "\u2026"  # a C1 control alone still takes the slow path
    # Unnamed characters (the undefined C1 bytes, private use) are no Latin letters: they stay as they are.
    assert all(unicodedata.name(c, None) is None for c in undefined + "\ue000")
    assert fold_text(f"a{undefined}\ue000b") == f"a{undefined}\ue000b"


def test_crlf_is_one_break_and_a_lone_cr_one_too() -> None:
    assert normalise_layout("a\r\nb\rc") == "a\nb\nc"
    assert normalise_layout("a\u00e9\r\nb") == "a\u00e9\nb"


def test_enclosing_marks_go_and_spacing_marks_stay() -> None:
    enclosing, spacing = "\u20dd", "\u093e"  # COMBINING ENCLOSING CIRCLE; DEVANAGARI VOWEL SIGN AA
    assert (unicodedata.category(enclosing), unicodedata.category(spacing)) == ("Me", "Mc")
    assert fold_text(f"a{enclosing}") == "a"
    assert fold_text(f"\u0915{spacing}") == f"\u0915{spacing}"
    # match_key keeps letters, digits and marks of any script: Devanagari KA + AA, Arabic-Indic digit three.
    assert unicodedata.category("\u0663") == "Nd"
    assert match_key(f"\u0915{spacing}! \u0663_") == f"\u0915{spacing} \u0663"
    assert match_key("a_b") == "a b"  # the underscore is punctuation (Pc), not a word character, in ASCII too


# --- titles ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "key"), [
    ("Song (Club Mix)", "song remix"),
    ("Song (Unplugged)", "song live"),
    ("Song (Acoustic)", "song acoustic"),
    ("Song (Instrumental)", "song instrumental"),
    ("Song (Acapella)", "song a cappella"),
    ("Song (Nightcore)", "song sped up"),
    ("Song (Chopped & Screwed)", "song slowed"),
    ("Song (Demo)", "song demo"),
    ("Song (Extended)", "song extended"),
    ("Song (Reprise)", "song reprise"),
    ("Song (Karaoke Version)", "song karaoke"),  # a version word + "version": the word alone
    ("Song (Live Version)", "song live"),
    ("Song {Remix}", "song remix"),  # every bracket kind
    ("Song [Remix] (Live)", "song live remix"),
    ("(Remix)", "remix"),  # all brackets: the brackets are the title, not a version of nothing
])
def test_version_words(title: str, key: str) -> None:
    assert normalise_title(title) == key


@pytest.mark.parametrize("marker", [
    "(Radio Edit)", "(Stereo Version)", "(Album Version)", "(Remastered Edition)", "(Edit)", "(Explicit)",
    "(Bonus Track)", "(Deluxe Edition)", "(Anniversary Version)", "- 2011 Remaster", "- Remastered 2013",
    "- Digitally Remastered 2009", "(Original Motion Picture Soundtrack)", "(From \u201cThe Film\u201d)",
    "[feat. Drake]", "(Prod. by Metro Boomin)", "(Produced by X)", "(Featuring X)", "(with Drake)", "()",
    "- 1994/2011 Remaster", "(Remastered 1994 / 2011)",  # two years: the "/" is a space in the match key
])
def test_same_recording_markers_and_credits_leave_nothing(marker: str) -> None:
    parts = title_parts(f"Song {marker}")
    assert (parts.core, parts.versions, parts.extras, parts.variants, parts.query) == (
        "song", frozenset(), (), ("song",), "Song")


def test_a_capitalised_with_is_a_subtitle() -> None:
    parts = title_parts("Song (With You)")
    assert (parts.core, parts.extras, parts.variants) == ("song", ("with you",), ("song", "song with you"))


def test_an_all_bracket_title_keeps_no_extras() -> None:
    parts = title_parts("(Intro) (Night City)")
    assert (parts.core, parts.extras, parts.versions, parts.query) == ("intro night city", (), frozenset(),
                                                                        "Intro Night City")


@pytest.mark.parametrize(("title", "part"), [
    ("Part X", 10), ("Part IX", 9), ("Part XIV", 14), ("Pt. VI", 6), ("Part III", 3), ("Part 12", 12),
    ("Part VII", 7), ("Part XII", 12),  # a numeral is compared with the next one, never the one before
])
def test_roman_part_numbers(title: str, part: int) -> None:
    parts = title_parts(title)
    assert (parts.part, parts.core) == (part, f"part {part}")


def test_the_last_part_number_counts() -> None:
    assert title_parts("Chapter Pt. 2 (Part 3)").part == 3


def test_artist_keys_drop_only_a_leading_the_before_a_word() -> None:
    assert normalise_artist("The") == "the"
    assert normalise_artist("The The") == "the"
    assert normalise_artist("Other Theory") == "other theory"
