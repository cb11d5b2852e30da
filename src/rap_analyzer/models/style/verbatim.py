"""Verbatim copying: the longest run of consecutive words a generated text shares with any of the style examples.

Words are compared after the project's name normaliser (`rap_analyzer.text.match_key`: Unicode folding, case
folding, apostrophes dropped, every other non-letter/digit a space), so "Don't" and "dont," are the same word and
punctuation, line breaks or curly quotes cannot hide a copied line. The run is the longest common contiguous
block of the two word sequences (`difflib.SequenceMatcher.find_longest_match`, with its junk heuristic off so
that frequent words are not skipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from rap_analyzer.text import match_key


def words(text: str) -> list[str]:
    """The normalised words of `text`, in order."""
    return match_key(text).split()


def longest_shared_run(text: str, sources: Sequence[str]) -> int:
    """The length, in words, of the longest run of consecutive words of `text` that also occurs, consecutively,
    in one of `sources` (0 when nothing is shared or there are no sources)."""
    mine = words(text)
    if not mine:
        return 0
    best = 0
    for source in sources:
        theirs = words(source)
        if not theirs:
            continue
        matcher = SequenceMatcher(None, mine, theirs, autojunk=False)
        best = max(best, matcher.find_longest_match(0, len(mine), 0, len(theirs)).size)
    return best


def is_copied(run: int, threshold: int) -> bool:
    """A reply is flagged as copied when its longest shared run reaches `threshold` words
    (`generation.verbatim_run_words`)."""
    return run >= threshold
