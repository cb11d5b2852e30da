"""Letter-to-sound fallback for words the CMU dictionary lacks (slang, names, misspellings).

It spells a word into CMU-style phones (ARPAbet, vowels carry a stress digit) so the rhyme and syllable code
can treat every word alike. It is deliberately crude: vowel groups map to their most common sound, a final
silent "e" lengthens the vowel before it, the first vowel takes the stress. What it gets right is the
syllable count of most words and a rhyme tail that matches the spelling, which is all the features need.
"""

from __future__ import annotations

import re

# Longest spellings first: the regex alternation takes the first that matches.
_VOWEL_SPELLINGS: dict[str, str] = {
    "eau": "OW", "igh": "AY",
    "ee": "IY", "ea": "IY", "ie": "IY", "ei": "EY", "ey": "EY", "ay": "EY", "ai": "EY",
    "oo": "UW", "ou": "AW", "ow": "OW", "oi": "OY", "oy": "OY", "oa": "OW", "oe": "OW",
    "au": "AO", "aw": "AO", "ue": "UW", "ui": "UW", "eu": "UW", "ew": "UW",
    "er": "ER", "ir": "ER", "ur": "ER",
    "a": "AE", "e": "EH", "i": "IH", "o": "AA", "u": "AH",
}  # fmt: skip
# A vowel letter before one consonant and a final silent "e" says its name ("hate", "slime", "dope").
_LONG_VOWEL = {"a": "EY", "e": "IY", "i": "AY", "o": "OW", "u": "UW"}
_CONSONANT_SPELLINGS: dict[str, list[str]] = {
    "tch": ["CH"], "sch": ["S", "K"],
    "sh": ["SH"], "ch": ["CH"], "th": ["TH"], "ph": ["F"], "ck": ["K"], "ng": ["NG"], "wh": ["W"],
    "qu": ["K", "W"], "gh": [], "kn": ["N"], "wr": ["R"],
    "b": ["B"], "c": ["K"], "d": ["D"], "f": ["F"], "g": ["G"], "h": ["HH"], "j": ["JH"], "k": ["K"],
    "l": ["L"], "m": ["M"], "n": ["N"], "p": ["P"], "q": ["K"], "r": ["R"], "s": ["S"], "t": ["T"],
    "v": ["V"], "w": ["W"], "x": ["K", "S"], "y": ["Y"], "z": ["Z"],
}  # fmt: skip
_VOWEL_RE = "|".join(sorted(_VOWEL_SPELLINGS, key=len, reverse=True))
_CONS_RE = "|".join(sorted(_CONSONANT_SPELLINGS, key=len, reverse=True))
_MAGIC_E = re.compile(r"([aeiou])([b-df-hj-np-tvz])e(s|d)?$")
_VOWEL_LETTERS = set("aeiou")


def _prepare(word: str) -> tuple[str, str | None]:
    """Drop the silent final "e" of a magic-e ending and remember the long vowel it implies."""
    word = re.sub(r"[^a-z]", "", word.lower())
    word = re.sub(r"([b-df-hj-np-tv-z])\1", r"\1", word)  # doubled consonants sound once
    word = re.sub(r"([aeiou])h$", r"\1", word)  # "yeah", "nah": the final h is silent
    word = re.sub(r"c(?=[eiy])", "s", word)  # soft c, decided before a final "e" goes
    word = re.sub(r"^gh", "g", word)  # "ghost": the h is silent, the g is not
    match = _MAGIC_E.search(word)
    vowel, consonant, suffix = match.groups() if match else ("", "", None)
    # "-ed" after t/d and "-es" after a sibilant are syllables of their own ("faded", "faces").
    own_syllable = (suffix == "d" and consonant in "td") or (suffix == "s" and consonant in "szgx")
    # Only a lone vowel letter is lengthened: "cause" and "peace" already spell a long vowel.
    lone_vowel = match is not None and word[match.start() - 1 : match.start()] not in _VOWEL_LETTERS
    if match and lone_vowel and len(word) >= 3 and not own_syllable:
        return word[: match.start()] + "#" + consonant + (suffix or ""), _LONG_VOWEL[vowel]
    if word.endswith("ie"):
        return word, None  # "homie", "cookie": "ie" is the "ee" sound
    if word.endswith("e") and len(word) > 2 and any(c in _VOWEL_LETTERS for c in word[:-1]):
        word = word[:-1]  # a final "e" after another vowel somewhere is silent ("gone", "some")
    return word, None


def _y_as_vowel(word: str) -> str:
    """The letter y is a vowel unless it starts a syllable before another vowel ("yo", "beyond")."""
    only_vowel = not any(c in _VOWEL_LETTERS for c in word)
    out = []
    for i, c in enumerate(word):
        before, after = word[i - 1 : i], word[i + 1 : i + 2]
        if c == "y" and i > 0 and before not in _VOWEL_LETTERS and after not in _VOWEL_LETTERS:
            # "my", "fly": the only vowel says "eye"; "shorty", "gym": "ee"/"ih".
            out.append("%" if only_vowel else ("$" if i == len(word) - 1 else "i"))
        else:
            out.append(c)
    return "".join(out)


def spell_phones(word: str) -> list[str]:
    """CMU-style phones guessed from the spelling; empty when the word has no letters."""
    prepared, long_vowel = _prepare(word)
    prepared = _y_as_vowel(prepared)
    phones: list[str] = []
    pos = 0
    pattern = re.compile(rf"(#[a-z])|(%)|(\$)|({_VOWEL_RE})|({_CONS_RE})")
    while pos < len(prepared):
        match = pattern.match(prepared, pos)
        if match is None:
            pos += 1
            continue
        magic, eye, final_y, vowel, consonant = match.groups()
        if magic:
            phones += [f"{long_vowel}0", *_CONSONANT_SPELLINGS[magic[1]]]
        elif eye:
            phones.append("AY0")
        elif final_y:
            phones.append("IY0")
        elif vowel in {"a", "o"} and prepared[match.end() :] in {"", "s"} and phones:
            # A final "a" is a schwa ("finna", "niggas"), a final "o" says its name ("outro", "fo").
            phones.append("AH0" if vowel == "a" else "OW0")
        elif vowel:
            phones.append(f"{_VOWEL_SPELLINGS[vowel]}0")
        else:
            phones += _CONSONANT_SPELLINGS[consonant]
        pos = match.end()
    # English stress falls on the first syllable of most words; the rhyme tail starts at the stress.
    for i, phone in enumerate(phones):
        if phone[-1].isdigit():
            phones[i] = phone[:-1] + "1"
            break
    return phones
