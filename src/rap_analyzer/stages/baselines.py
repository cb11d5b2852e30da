"""Entry point of the `baselines` stage, shared by the CLI and `notebooks/03_baselines.ipynb`: every baseline
for every target, logged to MLflow, written to the leaderboard, DVC metrics and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rap_analyzer.config import Params
from rap_analyzer.models.baseline_runs import run_baselines
from rap_analyzer.models.baselines import embeddings_from_frame
from rap_analyzer.models.result import ModelResult
from rap_analyzer.tracking.leaderboard import write_leaderboard
from rap_analyzer.tracking.mlflow_log import log_results


def run(params: Params, dataset_dir: Path, embeddings_path: Path | None, reports_dir: Path,
                        mlflow_uri: str | None = None) -> list[ModelResult]:
    train = pd.read_parquet(dataset_dir / "train.parquet")
    eval_ = pd.read_parquet(dataset_dir / "eval.parquet")
    info = json.loads((dataset_dir / "dataset_info.json").read_text())
    feature_cols = list(info["features"]["names"])
    embeddings = None
    if embeddings_path is not None and embeddings_path.exists():
        embeddings = embeddings_from_frame(pd.read_parquet(embeddings_path))
    results: list[ModelResult] = []
    for target in params.baselines.targets:
        results += run_baselines(train, eval_, target, feature_cols, embeddings, params.baselines)
    logged_params = {**params.baselines.model_dump(), "n_features": len(feature_cols)}
    log_results(results, info["dataset_hash"], logged_params, uri=mlflow_uri,
                plots_dir=reports_dir / "figures" / "baselines")
    write_leaderboard(results, reports_dir / "leaderboard_baselines.md", reports_dir / "metrics",
                      reports_dir / "plots", info["dataset_hash"])
    return results


def leaderboard_frame(results: list[ModelResult]) -> pd.DataFrame:
    rows = [{"target": r.target, "model": r.model, "status": r.status, **r.metrics,
             "cv_mae_mean": r.cv_mae_mean, "cv_mae_std": r.cv_mae_std} for r in results]
    return pd.DataFrame(rows).sort_values(["target", "mae"], ignore_index=True)
