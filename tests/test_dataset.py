"""Prepare stage: labels, filters, artist-grouped split and folds, build/write — on small synthetic frames
whose columns are exactly TrackRecord's."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from rap_analyzer.config import PrepareParams
from rap_analyzer.dataset import filters
from rap_analyzer.dataset.build import build_dataset, write_dataset
from rap_analyzer.dataset.labels import popularity_score, release_year
from rap_analyzer.dataset.split import assign_folds, split_by_artist
from rap_analyzer.store.records import TRACK_COLUMNS, TrackRecord, content_hash


def record(key: str, artist: str, words: int = 60, pageviews: int | None = 1000, language: str | None = "en",
           release: date | None = date(2010, 5, 1), text: str | None = None) -> dict:
    lyrics = text if text is not None else " ".join(f"{key}w{i}" for i in range(words))
    return TrackRecord(source_key=key, source="dump", title=key, artist=artist, lyrics_raw=lyrics,
                       lyrics_clean=lyrics, sections=["[Verse 1]"], featured_artists=["Feat"],
                       release_date=release, pageviews=pageviews, language=language,
                       content_hash=content_hash(lyrics)).as_row()


def corpus(n_artists: int = 30, seed: int = 0) -> pd.DataFrame:
    """Artists with 1..12 songs each, so eval fraction and fold balance are non-trivial."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_artists):
        for s in range(int(rng.integers(1, 13))):
            rows.append(record(f"genius:{a}-{s}", f"Artist {a}", pageviews=int(rng.integers(1, 10**6)),
                               release=date(int(rng.integers(1980, 2024)), 1, 1)))
    return pd.DataFrame(rows, columns=TRACK_COLUMNS)


def test_popularity_matches_hand_computed_percentiles() -> None:
    views = pd.Series([10, 100, 1000, 0, None, 100], dtype="float64")
    # log10 = 1, 2, 3, 2 over the 4 positive rows; average ranks 1, 2.5, 4, 2.5; (r-1)/(n-1) = 0, .5, 1, .5
    expected = [1.0, 5.5, 10.0, np.nan, np.nan, 5.5]
    np.testing.assert_allclose(popularity_score(views).to_numpy(), expected)
    assert popularity_score(pd.Series([42.0])).tolist() == [5.5]
    assert popularity_score(pd.Series([None, 0.0], dtype="float64")).isna().all()


def test_release_year_excludes_impossible_and_counts() -> None:
    dates = pd.Series([date(1994, 4, 19), date(141, 7, 27), None, None, date(2999, 1, 1), "1989-08-01"])
    raw = pd.Series([None, "0141-07-27", "2003", None, None, None])
    years, counts = release_year(dates, raw, max_year=2025)
    np.testing.assert_array_equal(years.to_numpy(), [1994, np.nan, 2003, np.nan, np.nan, 1989])
    assert counts == {"release_year_missing": 1, "release_year_impossible": 2, "release_year_from_raw": 1}


def test_filters_count_what_they_drop() -> None:
    rows = [record("a", "A", words=10), record("b", "A"), record("c", "B", language="fr"),
            record("d", "B", language=None), record("e", "C", language="EN")]
    df = pd.DataFrame(rows)
    kept, dropped = filters.filter_min_words(df, 50)
    assert dropped == 1 and "a" not in set(kept["source_key"])
    kept, counts = filters.filter_language(kept, ["en"])
    assert counts == {"language": 1, "language_unknown_kept": 1}
    assert set(kept["source_key"]) == {"b", "d", "e"}


def test_deduplicate_keeps_most_viewed_copy() -> None:
    song = "same song " * 40
    rows = [record("x1", "A", pageviews=5, text=song), record("x2", "B", pageviews=50, text=song),
            record("x3", "C", pageviews=None, text=song), record("y", "D")]
    rows[2]["content_hash"] = ""  # a record without a hash must still collide with its copies
    kept, dropped = filters.deduplicate(pd.DataFrame(rows))
    assert dropped == 2
    assert list(kept["source_key"]) == ["x2", "y"]


def test_bad_input_gives_clear_errors() -> None:
    with pytest.raises(ValueError, match="lack columns"):
        filters.check_columns(pd.DataFrame({"source_key": ["a"]}))
    df = pd.DataFrame([record("a", "A"), record("a", "B")])
    with pytest.raises(ValueError, match="duplicate source_key"):
        filters.check_columns(df)


def test_split_never_leaks_an_artist_and_is_seeded() -> None:
    df = corpus()
    df.loc[0, "artist"] = "ARTIST 0 "  # same artist, other spelling: must stay on one side
    split = split_by_artist(df, eval_fraction=0.2, seed=7)
    sides = df.assign(split=split, group=df["artist"].str.strip().str.casefold()).groupby("group")["split"]
    assert (sides.nunique() == 1).all()
    frac = (split == "eval").mean()
    biggest = df["artist"].value_counts().max() / len(df)
    assert abs(frac - 0.2) <= biggest / 2 + 1e-9
    assert split.equals(split_by_artist(df, 0.2, seed=7))
    assert not split.equals(split_by_artist(df, 0.2, seed=8))


def test_folds_are_artist_grouped_and_balanced() -> None:
    df = corpus()
    folds = assign_folds(df, n_folds=5, seed=3)
    assert set(folds) == set(range(5))
    assert (df.assign(fold=folds).groupby("artist")["fold"].nunique() == 1).all()
    sizes = folds.value_counts()
    assert sizes.max() - sizes.min() <= df["artist"].value_counts().max()
    with pytest.raises(ValueError, match="cannot fill"):
        assign_folds(df[df["artist"].isin(["Artist 0", "Artist 1"])], n_folds=5, seed=3)


def test_build_dataset_end_to_end(tmp_path) -> None:
    raw = corpus()
    raw = pd.concat([raw, pd.DataFrame([record("short", "Artist 1", words=5),
                                        record("german", "Artist 2", language="de")])], ignore_index=True)
    params = PrepareParams(min_words=50, languages=["en"], eval_fraction=0.25, n_folds=4, seed=1)
    result = build_dataset(raw, params, max_year=2025)
    info = result.info
    assert info["dropped"] == {"min_words": 1, "language": 1, "duplicate_content": 0}
    assert info["counts"]["train"] + info["counts"]["eval"] == len(raw) - 2
    assert not set(result.train["artist"]) & set(result.eval["artist"])
    assert set(result.train["fold"]) == set(range(4)) and set(result.eval["fold"]) == {-1}
    assert sum(info["label_histograms"]["popularity"]["all"]["counts"]) == len(raw) - 2
    assert sum(v["train"] + v["eval"] for v in info["per_artist"].values()) == len(raw) - 2
    again = build_dataset(raw.sample(frac=1.0, random_state=5), params, max_year=2025)
    assert again.dataset_hash == result.dataset_hash  # row order of the input does not matter
    other = build_dataset(raw, params.model_copy(update={"seed": 2}), max_year=2025)
    assert other.dataset_hash != result.dataset_hash
    assert other.info["source_key_sha256"] == info["source_key_sha256"]

    paths = write_dataset(result, tmp_path)
    back = pd.read_parquet(paths["train"])
    assert back["source_key"].tolist() == result.train["source_key"].tolist()
    assert back["sections"].iloc[0].tolist() == ["[Verse 1]"]
    assert json.loads(paths["info"].read_text())["dataset_hash"] == result.dataset_hash
