"""The three regression targets, derived from raw track metadata.

`popularity`: 1 + 9 × percentile rank of log10(pageviews) among rows with pageviews > 0. The percentile rank
is (r − 1) / (n − 1) with r the average rank of tied values (1-based), so the least viewed track scores
exactly 1 and the most viewed exactly 10; a single row scores 5.5 (the middle). Rows without pageviews (the
catalog source has none) or with 0 pageviews get NaN: an unknown popularity is not "least popular".

The ranks are taken over the whole filtered corpus, before the split, so that the label of a song does not
depend on which side of the split it falls; no feature ever sees pageviews, so nothing leaks into models.

`popularity_within_artist`: 1 + 9 × percentile rank of log10(pageviews) among the same artist's labelled
songs (pageviews > 0), with the same average-rank percentile (r − 1) / (n − 1), n the artist's labelled songs:
each artist's least viewed song scores 1 and most viewed 10, so the label carries no fame, only which of an
artist's songs became the hits (issue 13: corpus-wide `popularity` is mostly the artist's fame). Artists are
grouped as the split groups them (`split.artist_groups`). An artist with fewer than `min_songs` labelled songs
(`prepare.within_artist_min_songs`) gets NaN: a percentile among so few songs is too coarse to be a label; those
artists and tracks are counted. Source: Genius pageviews (the dump's `stats.pageviews`), like `popularity`.

`release_year`: the year of `release_date` (else of `release_date_raw`) when it lies in [MIN_YEAR, current
year]; anything else (e.g. the 0141-07-27 in the Genius dump) is an impossible date, excluded (NaN) and counted.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from rap_analyzer.dataset.split import artist_groups

# Recorded rap starts in the late 1970s; 1950 leaves room for samples/reissues while rejecting typos.
MIN_YEAR = 1950


def popularity_score(pageviews: pd.Series) -> pd.Series:
    """Continuous 1–10 popularity from pageviews; NaN where pageviews are missing or not positive."""
    views = pd.to_numeric(pageviews, errors="coerce").astype("float64")
    valid = views > 0
    out = pd.Series(np.nan, index=pageviews.index, dtype="float64", name="popularity")
    n = int(valid.sum())
    if n == 0:
        return out
    logs = np.log10(views[valid])
    if n == 1:
        out[valid] = 5.5
        return out
    ranks = logs.rank(method="average")
    out[valid] = 1.0 + 9.0 * (ranks - 1.0) / (n - 1.0)
    return out


def popularity_within_artist(pageviews: pd.Series, artists: pd.Series,
                             min_songs: int) -> tuple[pd.Series, dict[str, int]]:
    """Per-artist 1–10 popularity (module docs); NaN where pageviews are missing or not positive, or where the
    artist has fewer than `min_songs` labelled songs. Returns the labels (aligned with `pageviews`) and the counts
    `within_artist_artists_below_min` / `within_artist_tracks_below_min` (labelled tracks left NaN by the minimum).
    Raises ValueError for min_songs < 2 (a percentile rank needs two songs) or misaligned input."""
    if min_songs < 2:
        raise ValueError(f"min_songs must be at least 2 (a rank among one song is undefined), got {min_songs}; "
                         "fix prepare.within_artist_min_songs")
    if not pageviews.index.equals(artists.index):
        raise ValueError("pageviews and artists must share one index (one artist per track)")
    views = pd.to_numeric(pageviews, errors="coerce").astype("float64")
    valid = views > 0
    out = pd.Series(np.nan, index=pageviews.index, dtype="float64", name="popularity_within_artist")
    groups = artist_groups(artists)[valid]
    if groups.empty:  # no pageviews at all (e.g. the catalog source): nothing to rank, nothing below the minimum
        return out, {"within_artist_artists_below_min": 0, "within_artist_tracks_below_min": 0}
    sizes = groups.map(groups.value_counts()).astype("float64")
    ranks = np.log10(views[valid]).groupby(groups).rank(method="average")
    kept = sizes >= min_songs
    out[kept[kept].index] = 1.0 + 9.0 * (ranks[kept] - 1.0) / (sizes[kept] - 1.0)
    counts = {"within_artist_artists_below_min": int(groups[~kept].nunique()),
              "within_artist_tracks_below_min": int((~kept).sum())}
    return out, counts


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def release_year(
    release_date: pd.Series, release_date_raw: pd.Series | None = None, min_year: int = MIN_YEAR,
    max_year: int | None = None,
) -> tuple[pd.Series, dict[str, int]]:
    """Year of each release date, NaN outside [min_year, max_year]; counts of missing and impossible dates.

    Accepts `datetime.date` objects (what `TrackRecord` holds), pandas timestamps or ISO strings; a value
    that cannot be parsed counts as impossible, never as a guessed year. Where `release_date` is missing,
    the year of `release_date_raw` is used: the scraper keeps partial dates such as "2003" or "1989-08"
    only there, and their year is stated, not guessed (counted as `release_year_from_raw`).
    """
    max_year = max_year if max_year is not None else date.today().year
    years = pd.Series(np.nan, index=release_date.index, dtype="float64", name="release_year")
    missing = impossible = from_raw = 0
    for idx, value in release_date.items():
        if _missing(value) and release_date_raw is not None and not _missing(release_date_raw[idx]):
            value = release_date_raw[idx]
            from_raw += 1
        if _missing(value):
            missing += 1
            continue
        year = _year_of(value)
        if year is None or not min_year <= year <= max_year:
            impossible += 1
            continue
        years[idx] = float(year)
    return years, {"release_year_missing": missing, "release_year_impossible": impossible,
                   "release_year_from_raw": from_raw}


def _year_of(value: object) -> int | None:
    if isinstance(value, date):  # also datetime and pd.Timestamp
        return value.year
    if isinstance(value, np.datetime64):
        return int(str(value)[:4]) if not np.isnat(value) else None
    text = str(value).strip()
    # Parse the leading year ourselves: pd.Timestamp cannot represent years like 0141.
    head = text[:4]
    if len(text) >= 4 and head.isdigit() and (len(text) == 4 or not text[4].isdigit()):
        return int(head)
    return None


def histogram(values: pd.Series, edges: np.ndarray) -> dict[str, list[float]]:
    """Histogram of the non-NaN values as plain lists (JSON friendly)."""
    clean = values.dropna().to_numpy(dtype="float64")
    counts, used_edges = np.histogram(clean, bins=edges)
    return {"bins": [float(e) for e in used_edges], "counts": [int(c) for c in counts]}


def label_edges(target: str, values: pd.Series) -> np.ndarray:
    """Bin edges: unit bins over 1..10 for both popularity targets, decades spanning the data for years."""
    if target.startswith("popularity"):
        return np.arange(1.0, 11.0)
    clean = values.dropna()
    if clean.empty:
        return np.array([MIN_YEAR, MIN_YEAR + 10], dtype="float64")
    lo = np.floor(clean.min() / 10.0) * 10.0
    hi = np.floor(clean.max() / 10.0) * 10.0 + 10.0
    return np.arange(lo, hi + 1.0, 10.0)
