"""Phonetic and lexical lyric features: `extract_features` for one lyric, `features_frame` for many."""

from __future__ import annotations

from rap_analyzer.features.extract import FEATURE_NAMES, FEATURE_VERSION, extract_features, parse_lyrics
from rap_analyzer.features.frame import features_frame

__all__ = ["FEATURE_NAMES", "FEATURE_VERSION", "extract_features", "features_frame", "parse_lyrics"]
