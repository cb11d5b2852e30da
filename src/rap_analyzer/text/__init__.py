"""Text normalisation shared by cleaning, tokenising, Spotify matching and de-duplication (standard library and
`anyascii` only, so every layer above `store` may use it)."""

from rap_analyzer.text.normalise import fold_punctuation, fold_text, match_key, normalise_layout
from rap_analyzer.text.titles import TitleParts, normalise_artist, normalise_title, primary_artist, title_parts

__all__ = [
    "TitleParts",
    "fold_punctuation",
    "fold_text",
    "match_key",
    "normalise_artist",
    "normalise_layout",
    "normalise_title",
    "primary_artist",
    "title_parts",
]
