"""Word sounds (issue 16) on hand-picked words whose right value is read off their CMU dictionary entry, printed
beside each case, or follows from the definitions in `features/phonetics.py`: the rhyme (`tail`) runs from the
last vowel with stress 1 or 2 to the end, stress digits removed; without a stressed vowel, from the last vowel;
`tails` holds that rhyme for every pronunciation stressed like the first; syllables are the vowels."""

from __future__ import annotations

from collections.abc import Iterator

import pronouncing
import pytest

from rap_analyzer.features import phonetics
from rap_analyzer.features.letters import spell_phones
from rap_analyzer.features.phonetics import cmu_dict, syllables, tokenize, word_sound


@pytest.fixture(autouse=True)
def fresh_word_sounds() -> Iterator[None]:
    """`word_sound` memoises: a sound computed before (by another test, or by mutmut's first pass, whose cache
    its forked runs inherit) would be read back instead of being worked out by the code under test."""
    word_sound.cache_clear()
    yield
    word_sound.cache_clear()


def test_repeat_marks_and_numbers_are_not_words_but_a_letter_with_digits_is() -> None:
    # "(x2)", "2x", "X3": whole-token repeat marks; "1996": no letter. "x" alone, "x2x", "2x4", "4real" stay.
    assert tokenize("(x2) 2x X3 1996 x x2x 2x4 4real") == ["x", "x2x", "2x4", "4real"]
    assert tokenize("rock'n'roll 'cause runnin' it's") == ["rock'n'roll", "cause", "runnin", "it's"]


def test_dictionary_keeps_every_pronunciation_in_order_without_comments() -> None:
    # pronouncing's raw lines: read = "R EH1 D", "R IY1 D"; aalborg = "AO1 L B AO0 R G # place, danish",
    # "AA1 L B AO0 R G": the comment is not a phone.
    assert pronouncing.phones_for_word("aalborg")[0] == "AO1 L B AO0 R G # place, danish"
    cmu = cmu_dict()
    assert cmu["read"] == (("R", "EH1", "D"), ("R", "IY1", "D"))
    assert cmu["aalborg"] == (("AO1", "L", "B", "AO0", "R", "G"), ("AA1", "L", "B", "AO0", "R", "G"))


def test_an_empty_dictionary_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pronouncing, "init_cmu", lambda: None)
    monkeypatch.setattr(pronouncing, "pronunciations", [])
    phonetics.cmu_dict.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="empty CMU dictionary"):
            cmu_dict()
    finally:
        phonetics.cmu_dict.cache_clear()


# word -> (phones, vowels, tail, tails, stressed, in_cmu); the CMU entry each follows from is in the comment.
SOUNDS = {
    # elevation: EH2 L AH0 V EY1 SH AH0 N. The last stressed vowel is EY1.
    "elevation": (("EH2", "L", "AH0", "V", "EY1", "SH", "AH0", "N"), ("EH", "AH", "EY", "AH"),
                  ("EY", "SH", "AH", "N"), {("EY", "SH", "AH", "N")}, True, True),
    # tomato: T AH0 M EY1 T OW2 | T AH0 M AA1 T OW2. Secondary stress (2) counts: the rhyme is the final OW.
    "tomato": (("T", "AH0", "M", "EY1", "T", "OW2"), ("AH", "EY", "OW"), ("OW",), {("OW",)}, True, True),
    # read: R EH1 D | R IY1 D. The first is the word's sound; both are its rhymes.
    "read": (("R", "EH1", "D"), ("EH",), ("EH", "D"), {("EH", "D"), ("IY", "D")}, True, True),
    # the: DH AH0 | DH AH1 | DH IY0. Unstressed: the last vowel; the stressed AH1 reading is not among its rhymes
    # (its rhyme AH is the same as the first's), DH IY0 is.
    "the": (("DH", "AH0"), ("AH",), ("AH",), {("AH",), ("IY",)}, False, True),
    # a: AH0 | EY1. The unstressed first reading rhymes on AH only: EY1 is stressed unlike it.
    "a": (("AH0",), ("AH",), ("AH",), {("AH",)}, False, True),
    # hmm: HH M. No vowel: no rhyme, no syllable.
    "hmm": (("HH", "M"), (), None, set(), False, True),
    # runnin: not in CMU; running = R AH1 N IH0 NG (the dropped g).
    "runnin": (("R", "AH1", "N", "IH0", "NG"), ("AH", "IH"), ("AH", "N", "IH", "NG"),
               {("AH", "N", "IH", "NG")}, True, True),
    # goin: in CMU itself as G OY1 N; its own entry wins over going's G OW1 IH0 NG.
    "goin": (("G", "OY1", "N"), ("OY",), ("OY", "N"), {("OY", "N")}, True, True),
    # drake's: not in CMU; drake = D R EY1 K and the clitic 's is a Z.
    "drake's": (("D", "R", "EY1", "K", "Z"), ("EY",), ("EY", "K", "Z"), {("EY", "K", "Z")}, True, True),
    # live'n: not in CMU; live = L AY1 V | L IH1 V and n = EH1 N: the first reading of each, joined.
    "live'n": (("L", "AY1", "V", "EH1", "N"), ("AY", "EH"), ("EH", "N"), {("EH", "N")}, True, True),
    # rock'n'roll's: not in CMU; rock'n'roll = R AA1 K AH0 N R OW1 L, and the clitic after the last apostrophe.
    "rock'n'roll's": (("R", "AA1", "K", "AH0", "N", "R", "OW1", "L", "Z"), ("AA", "AH", "OW"), ("OW", "L", "Z"),
                      {("OW", "L", "Z")}, True, True),
    # ive: not in CMU, i've = AY1 V (the apostrophe after the first letter).
    "ive": (("AY1", "V"), ("AY",), ("AY", "V"), {("AY", "V")}, True, True),
    # dont: not in CMU, don't = D OW1 N T | D OW1 N.
    "dont": (("D", "OW1", "N", "T"), ("OW",), ("OW", "N", "T"), {("OW", "N", "T"), ("OW", "N")}, True, True),
}


@pytest.mark.parametrize("word", list(SOUNDS))
def test_word_sound_follows_the_dictionary_entry(word: str) -> None:
    phones, vowels, tail, tails, stressed, in_cmu = SOUNDS[word]
    sound = word_sound(word)
    assert (sound.phones, sound.vowels, sound.tail, set(sound.tails), sound.stressed, sound.in_cmu) == (
        phones, vowels, tail, tails, stressed, in_cmu)
    assert syllables(word) == len(vowels)


@pytest.mark.parametrize("word", ["nas's", "homie's", "a'ight", "thuggin"])
def test_a_word_the_dictionary_does_not_cover_is_spelled_out(word: str) -> None:
    # nas, homie, ight: not CMU words, so neither the clitic rule nor the joined parts apply; thuggin ends in
    # "in" but "thugging" is no CMU word either: the spelling decides.
    cmu = cmu_dict()
    assert word not in cmu and f"{word}g" not in cmu and not all(part in cmu for part in word.split("'"))
    sound = word_sound(word)
    assert not sound.in_cmu and sound.phones == tuple(spell_phones(word))
