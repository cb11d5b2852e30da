"""One lyric -> a flat dict of phonetic and lexical features (`extract_features`)."""

from __future__ import annotations

import re

from rap_analyzer.config import FeaturesParams
from rap_analyzer.features.lexical import (
    mattr,
    mtld,
    profanity_ratio,
    repetition_ratio,
    ttr,
    unique_in_first,
)
from rap_analyzer.features.phonetics import syllables, tokenize, word_sound
from rap_analyzer.features.rhyme import end_rhyme_rate, internal_rhyme_rate, rhyme_density
from rap_analyzer.text import normalise_layout

# Bump when a definition changes: it is part of the cache key, so old cached values are not reused.
FEATURE_VERSION = "2"  # 2: tokens and lines through the shared text normaliser (apostrophe look-alikes, U+2028)

FEATURE_NAMES: list[str] = [
    "n_words",
    "n_lines",
    "n_stanzas",
    "words_per_line",
    "syllables_per_line",
    "rhyme_density",
    "multisyllabic_rhyme_rate",
    "end_rhyme_rate",
    "internal_rhyme_rate",
    "ttr",
    "mattr",
    "mtld",
    "unique_words_first_n",
    "repetition_ratio",
    "profanity_ratio",
    "cmu_coverage",
]

# "[Verse 1: Nas]"-style section headers are not lyrics; where one is left in, it ends a stanza.
_HEADER = re.compile(r"^\s*\[[^\]]*\]\s*$")

Stanzas = list[list[list[str]]]


def parse_lyrics(text: str) -> Stanzas:
    """Stanzas (split at blank lines and section headers) of lines of word tokens.

    Lines without a word ("...", "1996") are not lines of the lyric and do not break a stanza. Lines end at
    every Unicode line break, as in cleaning (`rap_analyzer.text.normalise_layout`).
    """
    stanzas: Stanzas = [[]]
    for raw in normalise_layout(text).split("\n"):
        if not raw.strip() or _HEADER.match(raw):
            if stanzas[-1]:
                stanzas.append([])
            continue
        words = tokenize(raw)
        if words:
            stanzas[-1].append(words)
    return [s for s in stanzas if s]


def extract_features(text: str, params: FeaturesParams) -> dict[str, float]:
    """Features of one cleaned lyric (line breaks kept, blank lines between stanzas), in FEATURE_NAMES order.

    Raises ValueError when the text has no words (features are for English lyrics: a-z after accents go).
    """
    if not isinstance(text, str):
        raise TypeError(f"extract_features needs the lyrics as str, got {type(text).__name__}")
    stanzas = parse_lyrics(text)
    lines = [line for stanza in stanzas for line in stanza]
    words = [w for line in lines for w in line]
    if not words:
        preview = text.strip()[:60]
        raise ValueError(
            f"lyrics contain no words in the Latin alphabet (blank, headers, numbers or another script): "
            f"{preview!r}; pass the cleaned English lyrics of a track, or drop such tracks before this step"
        )
    density, multi = rhyme_density(words, params.rhyme_window)
    n_lines = len(lines)
    features = {
        "n_words": float(len(words)),
        "n_lines": float(n_lines),
        "n_stanzas": float(len(stanzas)),
        "words_per_line": len(words) / n_lines,
        "syllables_per_line": sum(syllables(w) for w in words) / n_lines,
        "rhyme_density": density,
        "multisyllabic_rhyme_rate": multi,
        "end_rhyme_rate": end_rhyme_rate(stanzas),
        "internal_rhyme_rate": internal_rhyme_rate(lines, params.rhyme_window),
        "ttr": ttr(words),
        "mattr": mattr(words, params.mattr_window),
        "mtld": mtld(words),
        "unique_words_first_n": unique_in_first(words, params.first_n_words),
        "repetition_ratio": repetition_ratio(lines),
        "profanity_ratio": profanity_ratio(words),
        "cmu_coverage": sum(word_sound(w).in_cmu for w in words) / len(words),
    }
    return {name: float(features[name]) for name in FEATURE_NAMES}
