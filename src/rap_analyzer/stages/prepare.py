"""Entry point of the `prepare` stage, shared by the CLI and `notebooks/02_prepare.ipynb`: raw tracks →
features → filtered, labelled, artist-disjoint train/eval parquet files, a `dataset_versions` row, and the
features of every dataset track in `track_features` (replaced whole)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from rap_analyzer.config import Params
from rap_analyzer.dataset.build import DatasetResult, build_dataset, write_dataset
from rap_analyzer.features import FEATURE_NAMES, FEATURE_VERSION, features_frame
from rap_analyzer.features.frame import ERROR_COLUMN
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate
from rap_analyzer.store.track_features import replace_track_features


def with_features(raw: pd.DataFrame, params: Params, progress: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """Raw tracks joined with their features; tracks whose features cannot be computed are returned apart
    (source_key → reason), never given made-up values."""
    features = features_frame(raw["lyrics_clean"], params.features, ids=raw["source_key"],
                              cache_dir=params.data_dir / "cache" / "features", progress=progress,
                              on_error="record")
    failed: dict[str, str] = {}
    if ERROR_COLUMN in features.columns:
        errors = features[ERROR_COLUMN].dropna()
        failed = {str(k): str(v) for k, v in errors.items()}
        features = features.drop(columns=ERROR_COLUMN)
    joined = raw.join(features[FEATURE_NAMES], on="source_key")
    return joined[~joined["source_key"].isin(failed)].reset_index(drop=True), failed


def record_version(conn: psycopg.Connection, result: DatasetResult) -> None:
    conn.execute(
        "INSERT INTO dataset_versions (dataset_hash, info) VALUES (%s, %s) ON CONFLICT (dataset_hash) DO NOTHING",
        (result.dataset_hash, Jsonb(result.info)),
    )


def run(params: Params, tracks_path: Path, out_dir: Path, progress: bool = True) -> DatasetResult:
    raw = pd.read_parquet(tracks_path)
    raw_with_features, failed = with_features(raw, params, progress)
    result = build_dataset(raw_with_features, params.prepare)
    result.info["dropped"]["feature_error"] = len(failed)
    result.info["feature_errors"] = failed
    result.info["features"] = {
        "names": FEATURE_NAMES, "version": FEATURE_VERSION, "params": params.features.model_dump(),
        "cmu_coverage_mean": float(pd.concat([result.train, result.eval])["cmu_coverage"].mean()),
    }
    write_dataset(result, out_dir)
    with services.connect(params) as conn:
        migrate(conn)
        record_version(conn, result)
        # The service's /trends aggregates these; they describe exactly this dataset version.
        replace_track_features(conn, pd.concat([result.train, result.eval], ignore_index=True),
                               FEATURE_NAMES, result.dataset_hash, FEATURE_VERSION)
    return result

