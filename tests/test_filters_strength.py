"""Filter behaviours the dataset tests leave open (issue 16): which copy de-duplication keeps when pageviews are
0, missing or unreadable, or tied; records without a hash; missing lyrics as 0 words; the full messages of the
input checks. Oracle: the rules of `dataset.filters`' docstring, applied by hand to small frames."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from rap_analyzer.dataset import filters
from rap_analyzer.store.records import content_hash

SONG = "the same song " * 20


def row(key: str, pageviews: object = None, text: str = SONG, hashed: bool = True) -> dict[str, object]:
    return {"source_key": key, "artist": key.upper(), "lyrics_clean": text, "language": "en",
            "content_hash": content_hash(text) if hashed else None, "pageviews": pageviews, "release_date": None}


def kept_keys(rows: list[dict[str, object]]) -> tuple[list[str], int]:
    kept, dropped = filters.deduplicate(pd.DataFrame(rows))
    return kept["source_key"].tolist(), dropped


def test_missing_pageviews_rank_below_zero_views() -> None:
    assert kept_keys([row("a", None), row("b", 0)]) == (["b"], 1)
    assert kept_keys([row("a", "n/a"), row("b", 0)]) == (["b"], 1)  # unreadable counts as missing


def test_a_tie_keeps_the_first_source_key_in_order() -> None:
    assert kept_keys([row("genius:2", 7), row("genius:1", 7), row("genius:3", 7)]) == (["genius:1"], 2)


def test_records_without_a_hash_collide_only_with_copies_of_their_lyrics() -> None:
    other = "another song entirely " * 20
    rows = [row("a", 5, hashed=False), row("b", 9, text=other, hashed=False), row("c", 1, text=SONG.upper())]
    keys, dropped = kept_keys(rows)
    assert (keys, dropped) == (["a", "b"], 1)  # "c" is "a" in capitals: one song; "b" is another


def test_missing_lyrics_have_no_words() -> None:
    assert filters.word_counts(pd.Series([None, "", "one two  three"], dtype=object)).tolist() == [0, 0, 3]
    kept, dropped = filters.filter_min_words(pd.DataFrame({"lyrics_clean": [None, "word"]}), 1)
    assert kept["lyrics_clean"].tolist() == ["word"] and dropped == 1


def test_input_checks_say_what_is_wrong_and_what_to_do() -> None:
    missing = [c for c in filters.REQUIRED_COLUMNS if c != "source_key"]
    with pytest.raises(ValueError, match="^" + re.escape(
            f"raw tracks lack columns {missing}; expected the TrackRecord columns of data/raw/tracks.parquet "
            "(rap_analyzer.store.records.TRACK_COLUMNS) — re-run the scrape stage") + "$"):
        filters.check_columns(pd.DataFrame({"source_key": ["a"]}))
    with pytest.raises(ValueError, match="^" + re.escape(
            "1 duplicate source_key values in raw tracks (e.g. 'a'); source_key is the upsert key and must be "
            "unique — fix the scrape output") + "$"):
        filters.check_columns(pd.DataFrame([row("a"), row("a")]))
