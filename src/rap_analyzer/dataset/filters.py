"""Row filters of the prepare stage. Each returns the kept rows and how many it dropped.

Language: rows whose `language` is None are KEPT (and counted as `language_unknown_kept`): the catalog
source records no language at all and is almost entirely English rap, so dropping unknowns would silently
discard most of the corpus. Rows with a known language outside `languages` are dropped.

De-duplication: the same song filed under several artists has the same `content_hash`; the copy with the
most pageviews is kept (missing pageviews rank lowest, ties broken by `source_key` for determinism). It runs
after the other filters so that the surviving copy is one that passed them.
"""

from __future__ import annotations

import pandas as pd

from rap_analyzer.store.records import content_hash

REQUIRED_COLUMNS = ("source_key", "artist", "lyrics_clean", "language", "content_hash", "pageviews",
                    "release_date")


def check_columns(raw: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"raw tracks lack columns {missing}; expected the TrackRecord columns of data/raw/tracks.parquet "
            "(rap_analyzer.store.records.TRACK_COLUMNS) — re-run the scrape stage"
        )
    dupes = raw["source_key"][raw["source_key"].duplicated()]
    if len(dupes):
        raise ValueError(
            f"{len(dupes)} duplicate source_key values in raw tracks (e.g. {dupes.iloc[0]!r}); source_key is "
            "the upsert key and must be unique — fix the scrape output"
        )


def word_counts(lyrics: pd.Series) -> pd.Series:
    """Whitespace-separated tokens of the cleaned lyrics (None counts as 0 words)."""
    return lyrics.fillna("").astype(str).str.split().str.len().astype("int64")


def filter_min_words(df: pd.DataFrame, min_words: int) -> tuple[pd.DataFrame, int]:
    keep = word_counts(df["lyrics_clean"]) >= min_words
    return df[keep], int((~keep).sum())


def filter_language(df: pd.DataFrame, languages: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    lang = df["language"]
    unknown = lang.isna()
    allowed = {code.lower() for code in languages}
    keep = unknown | lang.fillna("").astype(str).str.lower().isin(allowed)
    counts = {"language": int((~keep).sum()), "language_unknown_kept": int(unknown.sum())}
    return df[keep], counts


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    hashes = df["content_hash"].fillna("").astype(str)
    # A record without a hash still gets one, so that it can collide with its copies.
    empty = hashes == ""
    if empty.any():
        hashes = hashes.where(~empty, df["lyrics_clean"].fillna("").astype(str).map(content_hash))
    views = pd.to_numeric(df["pageviews"], errors="coerce").fillna(-1.0)
    order = (
        df.assign(_hash=hashes.to_numpy(), _views=views.to_numpy())
        .sort_values(["_hash", "_views", "source_key"], ascending=[True, False, True], kind="mergesort")
    )
    kept = order.drop_duplicates("_hash", keep="first").drop(columns=["_hash", "_views"])
    kept = kept.assign(content_hash=hashes.loc[kept.index].to_numpy())
    return kept.loc[df.index[df.index.isin(kept.index)]], len(df) - len(kept)
