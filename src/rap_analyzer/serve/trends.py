"""Trends over release years: one aggregate of the `track_features` table (written by the prepare stage) per
year or decade, with the number of songs behind each point.

A metric is the mean of one feature over the songs of a period, or, for `explicitness`, the share of songs
with any profanity (`profanity_ratio > 0`). Only songs with a release year and that feature count.
Names map to fixed SQL here; the request's values (feature name, artist) are always query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from rap_analyzer.features import FEATURE_NAMES


@dataclass(frozen=True)
class Metric:
    feature: str
    aggregate: Literal["mean", "share_positive"]
    description: str


_ALIASES = {
    "vocabulary_richness": Metric("mattr", "mean", "vocabulary richness: moving-average type-token ratio (MATTR)"),
    "words_per_song": Metric("n_words", "mean", "words per song"),
    "explicitness": Metric("profanity_ratio", "share_positive", "share of songs with at least one profanity"),
}
METRICS: dict[str, Metric] = {
    **_ALIASES,
    **{name: Metric(name, "mean", f"mean {name.replace('_', ' ')} per song") for name in FEATURE_NAMES},
}

_PERIOD = {"year": "f.release_year", "decade": "(f.release_year / 10) * 10"}  # integer division
_VALUE = "(f.features ->> %(feature)s)::float8"
_AGGREGATE = {"mean": f"avg({_VALUE})", "share_positive": f"avg(({_VALUE} > 0)::int::float8)"}


def trend(conn: psycopg.Connection, metric: str, by: Literal["year", "decade"] = "year",
          artist: str | None = None) -> list[dict[str, Any]]:
    """Points `{period, value, n}` in period order; `artist` (case-insensitive, the track's main artist)
    narrows the songs. An artist with no songs gives no points. Raises KeyError for an unknown metric or
    `by` (the request schema lists the allowed ones)."""
    spec = METRICS[metric]
    period = _PERIOD[by]
    sql = (
        f"SELECT {period} AS period, {_AGGREGATE[spec.aggregate]} AS value, count(*) AS n "
        "FROM track_features f JOIN tracks t ON t.id = f.track_id JOIN artists a ON a.id = t.artist_id "
        "WHERE f.release_year IS NOT NULL AND f.features ->> %(feature)s IS NOT NULL "
        "AND (%(artist)s::text IS NULL OR lower(a.name) = lower(%(artist)s::text)) "
        "GROUP BY 1 ORDER BY 1"
    )
    rows = conn.execute(sql, {"feature": spec.feature, "artist": artist}).fetchall()  # type: ignore[arg-type]
    return [{"period": int(p), "value": float(v), "n": int(n)} for p, v, n in rows]
