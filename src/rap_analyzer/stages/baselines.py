"""Entry point of the `baselines` stage, shared by the CLI and `notebooks/03_baselines.ipynb`: every baseline
for every target, logged to MLflow (with its fitted model, saved by `rap_analyzer.models.predictor` in skops
format, as the run's `model` artifact), written to the leaderboard, DVC metrics and plots."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from rap_analyzer.config import EmbedParams, FeaturesParams, Params
from rap_analyzer.models.baseline_runs import run_baselines
from rap_analyzer.models.baselines import embeddings_from_frame
from rap_analyzer.models.predictor import predictor_from_baseline, save_predictor
from rap_analyzer.models.result import ModelResult
from rap_analyzer.tracking.leaderboard import write_leaderboard
from rap_analyzer.tracking.mlflow_log import log_results


def save_fitted(results: list[ModelResult], features: FeaturesParams | None, embedder: EmbedParams,
                folder: Path) -> dict[str, Path]:
    """Each fitted model as a text-in predictor folder under `folder`; {"<target>/<model>": folder}."""
    out = {}
    for r in results:
        if r.status == "ok" and r.fitted is not None:
            dest = folder / r.target / r.model
            save_predictor(predictor_from_baseline(r.fitted, features, embedder), dest)
            out[f"{r.target}/{r.model}"] = dest
    return out


def run(params: Params, dataset_dir: Path, embeddings_path: Path | None, reports_dir: Path,
        mlflow_uri: str | None = None) -> list[ModelResult]:
    """Reads dataset_dir/{train,eval}.parquet, dataset_info.json and the embeddings parquet (optional);
    writes MLflow runs (tags dataset_hash, target, model, kind, eval_scope=full; artifacts: predictions CSV,
    plots, the fitted model), reports_dir/leaderboard_baselines.md, reports_dir/metrics/<target>.json,
    reports_dir/plots/predictions_<target>.csv and reports_dir/figures/baselines/*.png."""
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
    # The features the training frames were built with, so a saved model computes the same ones from text.
    features = FeaturesParams(**info["features"]["params"]) if "params" in info.get("features", {}) else None
    with tempfile.TemporaryDirectory() as tmp:
        model_dirs = save_fitted(results, features, params.embed, Path(tmp))
        log_results(results, info["dataset_hash"], logged_params, uri=mlflow_uri,
                    plots_dir=reports_dir / "figures" / "baselines", eval_scope="full", model_dirs=model_dirs)
    write_leaderboard(results, reports_dir / "leaderboard_baselines.md", reports_dir / "metrics",
                      reports_dir / "plots", info["dataset_hash"])
    return results


def leaderboard_frame(results: list[ModelResult]) -> pd.DataFrame:
    rows = [{"target": r.target, "model": r.model, "status": r.status, **r.metrics,
             "cv_mae_mean": r.cv_mae_mean, "cv_mae_std": r.cv_mae_std} for r in results]
    return pd.DataFrame(rows).sort_values(["target", "mae"], ignore_index=True)
