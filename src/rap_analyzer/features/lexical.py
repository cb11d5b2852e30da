"""Lexical features over word tokens: diversity (TTR, MATTR, MTLD), repetition, profanity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

MTLD_THRESHOLD = 0.72  # McCarthy & Jarvis (2010)

# Common English profanity, matched as whole tokens or as prefixes (so "fuckin", "shitty" count).
# Slurs are a separate question from profanity and are not listed.
PROFANE_WORDS = frozenset({"ass", "asses", "damn", "dick", "dicks", "pussy", "cunt", "hoe", "hoes"})
PROFANE_PREFIXES = ("fuck", "motherfuck", "muthafuck", "mothafuck", "shit", "bullshit", "bitch", "asshole")


def ttr(tokens: Sequence[str]) -> float:
    return len(set(tokens)) / len(tokens)


def mattr(tokens: Sequence[str], window: int) -> float:
    """Moving-average TTR (Covington & McFall 2010): mean TTR of every `window`-token stretch.

    A text shorter than the window is one stretch, so its MATTR is its TTR.
    """
    n = len(tokens)
    if n <= window:
        return ttr(tokens)
    counts = Counter(tokens[:window])
    total = len(counts)
    for i in range(window, n):
        counts[tokens[i]] += 1
        old = tokens[i - window]
        counts[old] -= 1
        if counts[old] == 0:
            del counts[old]
        total += len(counts)
    return total / (window * (n - window + 1))


def _mtld_pass(tokens: Sequence[str], threshold: float) -> float:
    factors = 0.0
    types: set[str] = set()
    count = 0
    for token in tokens:
        count += 1
        types.add(token)
        if len(types) / count <= threshold:
            factors += 1
            types, count = set(), 0
    if count:
        # The unfinished stretch counts as the fraction of a factor its TTR drop has covered.
        factors += (1 - len(types) / count) / (1 - threshold)
    # A text whose TTR never drops at all (every token new) is shorter than one factor: it counts as one.
    return len(tokens) / factors if factors else float(len(tokens))


def mtld(tokens: Sequence[str], threshold: float = MTLD_THRESHOLD) -> float:
    """Measure of textual lexical diversity (McCarthy & Jarvis 2010): mean of the forward and backward
    passes, each = tokens / factors, a factor being a stretch whose running TTR falls to `threshold`."""
    return (_mtld_pass(tokens, threshold) + _mtld_pass(tokens[::-1], threshold)) / 2


def unique_in_first(tokens: Sequence[str], n: int) -> float:
    """Distinct words among the first `n` (all of them when the lyric is shorter)."""
    return float(len(set(tokens[:n])))


def repetition_ratio(lines: Sequence[Sequence[str]]) -> float:
    """Share of lines that recur elsewhere in the lyric (same words after normalisation), every copy
    counted: a four-line hook sung four times over 16 verse lines gives 16 / 32."""
    keys = [" ".join(line) for line in lines]
    counts = Counter(keys)
    return sum(counts[k] > 1 for k in keys) / len(keys)


def is_profane(token: str) -> bool:
    return token in PROFANE_WORDS or token.startswith(PROFANE_PREFIXES)


def profanity_ratio(tokens: Sequence[str]) -> float:
    return sum(map(is_profane, tokens)) / len(tokens)
