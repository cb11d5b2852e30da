"""MLflow logging of baseline (and later model) results: one experiment per target, one run per model.

Store choice: a local SQLite database, `sqlite:///<repo>/mlruns/mlflow.db`, with artifacts in
`mlruns/artifacts`. The installed mlflow (3.17) defaults to `sqlite:///mlflow.db`, and its FileStore
(`./mlruns` directories) now raises unless `MLFLOW_ALLOW_FILE_STORE=true`: "The filesystem tracking backend
is in maintenance mode ... Please migrate to a database backend (e.g., 'sqlite:///mlflow.db')"
(mlflow/store/tracking/file_store.py). SQLite needs no server and `mlflow ui --backend-store-uri` reads it.

The URI is resolved as: explicit argument (tests pass one under tmp_path) > env MLFLOW_TRACKING_URI >
the default above. Artifacts go next to a SQLite file (`<db dir>/artifacts`) rather than mlflow's own
default `./mlruns` relative to the current directory, which would scatter them wherever a test runs.
A private MlflowClient is used instead of the global fluent API so that nothing leaks between callers.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from rap_analyzer.config import project_root
from rap_analyzer.models.plots import write_plots
from rap_analyzer.models.result import ModelResult

METRIC_KEYS = ("mae", "rmse", "spearman", "mae_ci_low", "mae_ci_high", "n", "n_artists", "n_failed", "failure_rate",
               "train_seconds", "predict_seconds_per_track", "within_artist_spearman", "within_artist_spearman_ci_low",
               "within_artist_spearman_ci_high", "within_artist_n_artists")
EVAL_SCOPES = ("full", "subset")  # scored on the whole eval split / on a sample of it (e.g. the LLM's)
MODEL_ARTIFACT = "model"  # run artifact folder holding a saved predictor (rap_analyzer.models.predictor)


def default_tracking_uri() -> str:
    """`<project root>/mlruns/mlflow.db` (see `config.project_root`)."""
    return f"sqlite:///{project_root() / 'mlruns' / 'mlflow.db'}"


def tracking_uri(explicit: str | None = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):])  # "sqlite:////abs/path" -> "/abs/path", "sqlite:///rel" -> "rel"


def client_for(uri: str | None = None) -> MlflowClient:
    uri = tracking_uri(uri)
    db = _sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)  # sqlite creates the file, not its folder
    # The registry too: MLflow's default registry URI is ./mlflow.db relative to the working directory.
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    db = _sqlite_path(client.tracking_uri)
    location = (db.resolve().parent / "artifacts" / name).as_uri() if db is not None else None
    return str(client.create_experiment(name, artifact_location=location))


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD's commit (of the project root's repository by default), or None outside a repository or before
    the first commit."""
    cwd = cwd or project_root()
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def result_metrics(result: ModelResult) -> dict[str, float]:
    """The numbers a run records; undefined ones (e.g. Spearman of a constant prediction) are left out."""
    values: dict[str, Any] = {k: result.metrics.get(k) for k in METRIC_KEYS}
    values["cv_mae_mean"] = result.cv_mae_mean
    values["cv_mae_std"] = result.cv_mae_std
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def log_result(result: ModelResult, dataset_hash: str, params: dict[str, Any] | None = None,
               artifacts: Iterable[str | Path] = (), experiment: str | None = None,
               uri: str | None = None, extra_metrics: dict[str, float] | None = None,
               plots_dir: Path | None = None, *, kind: str, eval_scope: str,
               model_dir: Path | None = None) -> str:
    """Log one model's result as a run of experiment `experiment` (default: the target); returns the run id.
    Its plots are drawn into `plots_dir` (kept, e.g. for the reports) or a temporary folder.

    Tags `dataset_hash`, `target`, `model`, `kind` (the predictor kind: mean, ridge_tfidf, llm, lora, ...) and
    `eval_scope` ("full": every labelled eval track; "subset": a sample) are what the select stage finds runs
    by; the predictions CSV (source_key, artist, y_true, y_pred) is what it scores them on. `model_dir`, a
    folder written by `rap_analyzer.models.predictor.save_predictor`, becomes the artifact folder `model`
    (its size in bytes the metric `model_size_bytes`): only runs with one can be served as champion.

    Skipped models get a run too, tagged `status=skipped` with the reason, so the leaderboard and MLflow
    agree on what was attempted.
    """
    client = client_for(uri)
    exp_id = experiment_id(client, experiment or result.target)
    if eval_scope not in EVAL_SCOPES:
        raise ValueError(f"eval_scope must be one of {EVAL_SCOPES}, got {eval_scope!r}")
    tags = {"model": result.model, "target": result.target, "dataset_hash": dataset_hash, "status": result.status,
            "kind": kind, "eval_scope": eval_scope}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
    if result.reason:
        tags["skip_reason"] = result.reason[:5000]
    run = client.create_run(exp_id, run_name=result.model, tags=tags)
    run_id = str(run.info.run_id)
    try:
        all_params = {**(params or {}), **{f"model.{k}": v for k, v in result.model_params.items()}}
        metrics = result_metrics(result) if result.status == "ok" else {}
        metrics.update({k: float(v) for k, v in (extra_metrics or {}).items() if v is not None and math.isfinite(v)})
        if model_dir is not None:
            files = [f for f in Path(model_dir).rglob("*") if f.is_file()]
            metrics["model_size_bytes"] = float(sum(f.stat().st_size for f in files))
        now_ms = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now_ms, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)[:6000]) for k, v in all_params.items()],
            tags=[RunTag("cv_maes", ",".join(f"{m:.6g}" for m in result.cv_maes))] if result.cv_maes else [],
        )
        with tempfile.TemporaryDirectory() as tmp:
            if result.predictions is not None:
                csv = Path(tmp) / f"predictions_{result.target}_{result.model}.csv"
                result.predictions.to_csv(csv, index=False)
                client.log_artifact(run_id, str(csv))
                ok = result.status == "ok"
                pngs = write_plots(result.predictions, result.model, result.target, plots_dir or tmp) if ok else []
                for png in pngs:
                    client.log_artifact(run_id, str(png), artifact_path="plots")
            for path in artifacts:
                client.log_artifact(run_id, str(path))
            if model_dir is not None:
                client.log_artifacts(run_id, str(model_dir), artifact_path=MODEL_ARTIFACT)
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def log_results(results: Iterable[ModelResult], dataset_hash: str, params: dict[str, Any] | None = None,
                uri: str | None = None, plots_dir: Path | None = None, eval_scope: str = "full",
                model_dirs: dict[str, Path] | None = None) -> dict[str, str]:
    """Log every result (kind = the model's name, as for the baselines); `model_dirs` maps "<target>/<model>"
    to a saved predictor folder. Returns {"<target>/<model>": run_id}."""
    model_dirs = model_dirs or {}
    return {f"{r.target}/{r.model}": log_result(r, dataset_hash, params, uri=uri, plots_dir=plots_dir,
                                                kind=r.model, eval_scope=eval_scope,
                                                model_dir=model_dirs.get(f"{r.target}/{r.model}"))
            for r in results}
