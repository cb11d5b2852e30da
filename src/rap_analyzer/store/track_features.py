"""The `track_features` table: one row of features per track of the current dataset (written by the prepare
stage, read by the service's /trends)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from rap_analyzer.store.tracks import track_ids


def replace_track_features(conn: psycopg.Connection, frame: pd.DataFrame, feature_names: Sequence[str],
                           dataset_hash: str, feature_version: str) -> int:
    """Replace the table's rows with `frame`'s (columns: source_key, release_year, every name in
    `feature_names`), in one transaction, so that it always describes exactly one dataset version.

    A NaN feature is stored as JSON null, never as a number; tracks not in `tracks` are skipped.
    Returns the number of rows written."""
    ids = track_ids(conn, list(frame["source_key"]))
    rows = []
    for record in frame[["source_key", "release_year", *feature_names]].itertuples(index=False):
        key, year, *values = record
        if key not in ids:
            continue
        features = {name: (None if value is None or math.isnan(value) else float(value))
                    for name, value in zip(feature_names, values, strict=True)}
        rows.append((ids[key], dataset_hash, feature_version,
                     None if year is None or pd.isna(year) else int(year), Jsonb(features)))
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM track_features")
        cur.executemany(
            "INSERT INTO track_features (track_id, dataset_hash, feature_version, release_year, features) "
            "VALUES (%s, %s, %s, %s, %s)", rows)
    return len(rows)
