"""Rhyme features over phones, not spelling.

Words are the tokens of `phonetics.tokenize`; a lyric is a list of stanzas, a stanza a list of lines, a
line a list of words. Repeating the same word is never counted as a rhyme: otherwise a hook sung four
times would score as a dense rhyme scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from rap_analyzer.features.phonetics import word_sound

Line = Sequence[str]


def longest_rhymes(words: Sequence[str], window: int) -> list[int]:
    """Per word, the length of its longest rhyme (Malmi et al. 2016, "DopeLearning", rhyme density).

    All vowels of the lyric, stress removed, form one sequence. For each word we read that sequence
    backwards from the word's last vowel, and from the last vowel of each of the `window` previous words,
    and count how many vowels agree before the first mismatch; the match may run across word boundaries
    (multi-word rhymes) but may not overlap itself. The word's value is the maximum over the window.
    Words without a vowel ("hmm", "brrr") have no rhyme and are left out.
    """
    seq: list[str] = []
    ends: list[int] = []
    kept: list[str] = []
    for word in words:
        vowels = word_sound(word).vowels
        if vowels:
            seq.extend(vowels)
            ends.append(len(seq) - 1)
            kept.append(word)
    best: list[int] = []
    for i, (end_i, word_i) in enumerate(zip(ends, kept, strict=True)):
        longest = 0
        for j in range(max(0, i - window), i):
            end_j = ends[j]
            if kept[j] == word_i or seq[end_i] != seq[end_j]:
                continue
            limit = min(end_i - end_j, end_j + 1)  # no overlap, no running off the start
            k = 1
            while k < limit and seq[end_i - k] == seq[end_j - k]:
                k += 1
            longest = max(longest, k)
        best.append(longest)
    return best


def rhyme_density(words: Sequence[str], window: int) -> tuple[float, float]:
    """(mean longest rhyme per word, share of words whose longest rhyme spans >= 2 vowels)."""
    best = longest_rhymes(words, window)
    if not best:
        return 0.0, 0.0
    return sum(best) / len(best), sum(b >= 2 for b in best) / len(best)


def rhymes(a: str, b: str) -> bool:
    """Perfect rhyme: same vowel and coda from the last stressed vowel on, in some pronunciation of each;
    different words."""
    return a != b and not word_sound(a).tails.isdisjoint(word_sound(b).tails)


def end_rhyme_rate(stanzas: Sequence[Sequence[Line]]) -> float:
    """Share of consecutive line pairs (within a stanza) whose last words rhyme."""
    pairs = hits = 0
    for stanza in stanzas:
        for prev, line in pairwise(stanza):
            pairs += 1
            hits += rhymes(prev[-1], line[-1])
    return hits / pairs if pairs else 0.0


def internal_rhyme_rate(lines: Sequence[Line], window: int) -> float:
    """Share of words that are not the last of their line and rhyme with one of the `window` words before.

    Only words whose rhyme starts on a stressed vowel count, so "the" and "a" do not rhyme with each other.
    """
    flat = [(w, word_sound(w), i == len(line) - 1) for line in lines for i, w in enumerate(line)]
    inner = hits = 0
    for pos, (word, sound, is_last) in enumerate(flat):
        if is_last:
            continue
        inner += 1
        if not sound.stressed:
            continue
        tails = sound.tails
        hits += any(
            other.stressed and w != word and not tails.isdisjoint(other.tails)
            for w, other, _ in flat[max(0, pos - window) : pos]
        )
    return hits / inner if inner else 0.0
