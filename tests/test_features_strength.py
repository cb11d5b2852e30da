"""Rhyme features on hand-made lines whose right value is known (issue 16), phones read off the CMU dictionary:
"elevation" and "celebration" both end EH AH EY AH; "fly"/"high" share AY, "low"/"go" share OW."""

from __future__ import annotations

import pytest

from rap_analyzer.features.rhyme import end_rhyme_rate, internal_rhyme_rate, longest_rhymes, rhyme_density


def test_a_four_vowel_rhyme_is_read_backwards_over_all_four() -> None:
    # celebration against elevation: AH=AH, EY=EY, AH=AH, EH=EH reading back from the last vowels: 4 vowels.
    assert longest_rhymes(["elevation", "celebration"], 15) == [0, 4]


def test_end_rhymes_count_each_consecutive_pair_of_a_stanza() -> None:
    # fly/high rhyme, high/low do not, low/go rhyme: 2 of 3 pairs; a second stanza adds 1 pair that rhymes.
    stanza = [["i", "fly"], ["so", "high"], ["down", "low"], ["here", "we", "go"]]
    assert end_rhyme_rate([stanza]) == pytest.approx(2 / 3)
    assert end_rhyme_rate([stanza, [["i", "go"], ["you", "know"]]]) == pytest.approx(3 / 4)


def test_lines_of_one_word_have_no_inner_words() -> None:
    assert internal_rhyme_rate([["fly"], ["high"], ["go"]], 15) == 0.0


def test_words_without_vowels_have_no_rhyme_density() -> None:
    assert rhyme_density(["hmm", "brrr", "shh"], 15) == (0.0, 0.0)
