"""Entry point of the `finetune` stage, shared by the CLI and `notebooks/05_finetune.ipynb`: one LoRA adapter on a
causal LM turned regressor, one output per target of `finetune.targets`, trained on the train split, early-stopped
on an artist-grouped validation fold of it, scored on the eval split (unseen artists) with the baselines' metrics
and artist-cluster bootstrap CIs, and logged to MLflow in each target's experiment."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from rap_analyzer.config import Params
from rap_analyzer.models.lora.convert import resolve_base_model
from rap_analyzer.models.lora.data import TargetScaler, encode, fit_val_split, labels
from rap_analyzer.models.lora.plots import learning_curve
from rap_analyzer.models.lora.predict import LoraPredictor, LoraRegressor, save_adapter
from rap_analyzer.models.lora.train import TrainHistory, build_model, load_tokenizer, pick_runtime, train
from rap_analyzer.models.metrics import is_collapsed, prediction_spread_ratio, regression_report
from rap_analyzer.models.predictor import save_predictor
from rap_analyzer.models.result import ModelResult
from rap_analyzer.tracking.mlflow_log import client_for, log_result

MODEL = "lora"  # the model name and kind on the leaderboards and in MLflow
METRICS_FILE = "finetune.json"
PYFUNC_ARTIFACT = "pyfunc"
PYFUNC_CODE = "rap_analyzer.models.lora.pyfunc"
ADAPTER_ARTIFACT = "adapter"
# What the pyfunc needs installed; pinned to the versions it was logged with (explicit, so MLflow never loads the
# model to infer them, which would need the base model and may reach for the network).
PYFUNC_DISTRIBUTIONS = ("rap-analyzer", "torch", "transformers", "peft", "safetensors", "gguf", "numpy", "pandas",
                        "mlflow")


@dataclass
class FinetuneOutcome:
    """What the stage did: a result per target (status ok or skipped), the training history (None when every
    target was skipped), MLflow run ids by target, and the adapter directory."""

    results: list[ModelResult]
    history: TrainHistory | None
    run_ids: dict[str, str] = field(default_factory=dict)
    adapter_dir: Path | None = None
    base_dir: Path | None = None
    device: str = "cpu"


def _usable_targets(fit: pd.DataFrame, eval_: pd.DataFrame, targets: list[str]) -> tuple[list[str], list[ModelResult]]:
    usable, skipped = [], []
    for target in targets:
        n_fit = int(fit[target].notna().sum()) if target in fit.columns else 0
        n_eval = int(eval_[target].notna().sum()) if target in eval_.columns else 0
        values = fit[target].dropna() if target in fit.columns else pd.Series(dtype=float)
        if n_fit < 2 or n_eval == 0 or values.nunique() < 2:
            reason = (f"no usable {target} labels: {n_fit} on the training part of train, {n_eval} on eval "
                      "(the source provides none, or too few)")
            skipped.append(ModelResult(MODEL, target, "skipped", reason))
        else:
            usable.append(target)
    return usable, skipped


def pip_requirements() -> list[str]:
    reqs = []
    for dist in PYFUNC_DISTRIBUTIONS:
        try:
            reqs.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            reqs.append(dist)
    return reqs


def _log_pyfunc(client: Any, run_id: str, adapter_dir: Path) -> None:
    """The adapter as an MLflow pyfunc ("models from code": the file is run on load, nothing is unpickled)."""
    import mlflow.pyfunc

    spec = importlib.util.find_spec(PYFUNC_CODE)  # its path only: importing it would run its set_model
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"{PYFUNC_CODE} is missing from the installed package; reinstall rap-analyzer")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PYFUNC_ARTIFACT
        mlflow.pyfunc.save_model(str(path), python_model=spec.origin, artifacts={"adapter": str(adapter_dir)},
                                 pip_requirements=pip_requirements())
        client.log_artifacts(run_id, str(path), artifact_path=PYFUNC_ARTIFACT)


def _log_history(client: Any, run_id: str, history: TrainHistory, scaler: TargetScaler, target: str) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    j = scaler.targets.index(target)
    metrics = [Metric("train_loss", float(loss), now, int(step)) for step, loss in
               zip(history.steps, history.losses, strict=True)]
    metrics += [Metric("val_mae", float(val[j]) * scaler.std[j], now, int(step))
                for step, val in zip(history.eval_steps, history.val_mae_z, strict=True) if np.isfinite(val[j])]
    for start in range(0, len(metrics), 1000):  # MLflow's log_batch takes at most 1000 metrics
        client.log_batch(run_id, metrics=metrics[start:start + 1000])


def run(params: Params, dataset_dir: Path, adapter_dir: Path, reports_dir: Path, mlflow_uri: str | None = None,
        progress: bool = True) -> FinetuneOutcome:
    """Reads dataset_dir/{train,eval}.parquet (lyrics_clean, artist, fold, the targets) and dataset_info.json
    (dataset_hash); converts the base model once into <data_dir>/cache/hf when it is "smollm2".

    Writes adapter_dir (peft adapter with the score head, tokenizer, lora_meta.json with target scaling and the
    run's steps), reports_dir/metrics/finetune.json ({target: mae, rmse, spearman, mae_ci_low, mae_ci_high, n,
    n_artists, n_failed, pred_std_ratio, collapsed}; no timings, so a rerun reproduces it),
    reports_dir/timings/finetune.json (steps, seconds of training, of eval prediction and of the whole stage),
    reports_dir/figures/finetune/ (learning_curve.png, <target>_lora_pred_vs_actual.png, <target>_lora_residuals.png)
    and one MLflow run per target in experiment <target> (tags dataset_hash, target, model=lora, kind=lora,
    eval_scope=full, collapsed, base_model; every parameter; train_loss and val_mae per step; eval metrics;
    artifacts: predictions CSV (source_key, artist, y_true, y_pred), plots, `model` (the saved predictor),
    `adapter`, `pyfunc`). A target without labels gets a skipped run and no model.
    Raises ConfigError for a bad finetune.base_model, val_fold or target_modules.
    """
    fp = params.finetune
    started = time.perf_counter()
    timings: dict[str, Any] = {}
    train_df = pd.read_parquet(dataset_dir / "train.parquet")
    eval_df = pd.read_parquet(dataset_dir / "eval.parquet")
    info = json.loads((dataset_dir / "dataset_info.json").read_text())
    fit, val = fit_val_split(train_df, fp.val_fold, fp.max_train_samples, fp.max_val_samples, fp.seed)
    targets, results = _usable_targets(fit, eval_df, list(fp.targets))
    logged_params: dict[str, Any] = fp.model_dump()
    figures = reports_dir / "figures" / "finetune"
    figures.mkdir(parents=True, exist_ok=True)
    outcome = FinetuneOutcome(results=results, history=None)
    metrics_out: dict[str, dict[str, Any]] = {}
    if targets:
        runtime = pick_runtime(fp.device)
        base_dir = resolve_base_model(fp.base_model, params.data_dir / "cache" / "hf")
        tokenizer = load_tokenizer(base_dir)
        scaler = TargetScaler.fit(fit, targets)
        fit_ids = encode(tokenizer, fit["lyrics_clean"].tolist(), fp.max_tokens)
        val_ids = encode(tokenizer, val["lyrics_clean"].tolist(), fp.max_tokens)
        model = build_model(base_dir, len(targets), fp, runtime, tokenizer.pad_token_id)
        with tqdm(desc="finetune steps", disable=not progress, unit="step") as bar:
            history = train(model, tokenizer, fit_ids, scaler.transform(labels(fit, targets)), val_ids,
                            scaler.transform(labels(val, targets)), fp, runtime,
                            on_step=lambda step, loss: _advance(bar))
        summary = {"steps": history.n_steps, "best_step": history.best_step, "stopped_early": history.stopped_early,
                   "n_fit": len(fit), "n_val": len(val), "tokens_seen": history.tokens_seen, "base_dir": base_dir.name}
        save_adapter(model, tokenizer, scaler, adapter_dir, fp, extra={"run": summary})
        regressor = LoraRegressor.in_memory(adapter_dir, model, tokenizer, runtime, fp.predict_batch_size)
        predict_start = time.perf_counter()
        predictions = regressor.predict_all(eval_df["lyrics_clean"].tolist())
        predict_per_track = (time.perf_counter() - predict_start) / max(len(eval_df), 1)
        timings = summary | {"device": runtime.device, "threads": runtime.threads,
                             "train_seconds": round(history.seconds, 1),
                             "seconds_per_step": round(history.seconds / max(history.n_steps, 1), 2),
                             "eval_predict_seconds": round(predict_per_track * len(eval_df), 1)}
        learning_png = learning_curve(history, scaler, figures / "learning_curve.png")
        logged_params |= {"base_dir": base_dir.name, "n_fit": len(fit), "n_val": len(val), "n_targets": len(targets),
                          "device": runtime.device, "threads": runtime.threads}
        outcome = FinetuneOutcome(results=results, history=history, adapter_dir=adapter_dir, base_dir=base_dir,
                                  device=runtime.device)
        for j, target in enumerate(targets):
            labelled = eval_df[target].notna().to_numpy()
            y_true = eval_df[target].to_numpy(float)[labelled]
            y_pred = predictions[labelled, j]
            report = regression_report(y_true, y_pred, fp.n_bootstrap, fp.seed, count_failures=True,
                                       groups=eval_df["artist"].to_numpy()[labelled])
            ratio = prediction_spread_ratio(y_true, y_pred)
            collapsed = is_collapsed(ratio, fp.collapse_std_ratio)  # the same rule as the select stage's
            metrics_out[target] = {k: _finite_or_none(report[k]) for k in
                                   ("mae", "rmse", "spearman", "mae_ci_low", "mae_ci_high", "n", "n_artists",
                                    "n_failed")}
            metrics_out[target] |= {"pred_std_ratio": _finite_or_none(ratio), "collapsed": collapsed}
            frame = pd.DataFrame({"source_key": eval_df["source_key"].to_numpy()[labelled],
                                  "artist": eval_df["artist"].to_numpy()[labelled], "y_true": y_true,
                                  "y_pred": y_pred})
            results.append(ModelResult(
                MODEL, target, "ok", metrics=report | {"train_seconds": history.seconds,
                                                       "predict_seconds_per_track": predict_per_track},
                predictions=frame, model_params={"base_model": fp.base_model, "best_step": history.best_step,
                                                 "steps": history.n_steps, "pred_std_ratio": ratio,
                                                 "collapsed": collapsed},
                seconds=history.seconds + predict_per_track * len(eval_df)))
            with tempfile.TemporaryDirectory() as tmp:
                model_dir = Path(tmp) / "model"
                save_predictor(LoraPredictor(regressor, target), model_dir)
                run_id = log_result(
                    results[-1], info["dataset_hash"], logged_params, artifacts=[learning_png], uri=mlflow_uri,
                    extra_metrics={"pred_std_ratio": ratio, "collapsed": float(collapsed),
                                   "best_step": float(history.best_step), "steps": float(history.n_steps),
                                   "best_val_mae_z": history.best_val},
                    plots_dir=figures, kind=MODEL, eval_scope="full", model_dir=model_dir)
            client = client_for(mlflow_uri)
            client.set_tag(run_id, "collapsed", str(collapsed).lower())
            client.set_tag(run_id, "base_model", fp.base_model)
            _log_history(client, run_id, history, scaler, target)
            client.log_artifacts(run_id, str(adapter_dir), artifact_path=ADAPTER_ARTIFACT)
            _log_pyfunc(client, run_id, adapter_dir)
            outcome.run_ids[target] = run_id
    for result in results:
        if result.status != "ok":
            outcome.run_ids[result.target] = log_result(result, info["dataset_hash"], logged_params, uri=mlflow_uri,
                                                        kind=MODEL, eval_scope="full")
            metrics_out[result.target] = {"skipped": result.reason}
    timings_path = reports_dir / "timings" / METRICS_FILE
    timings_path.parent.mkdir(parents=True, exist_ok=True)
    timings["stage_seconds"] = round(time.perf_counter() - started, 1)
    timings_path.write_text(json.dumps(timings, indent=2) + "\n")
    metrics_path = reports_dir / "metrics" / METRICS_FILE
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps({t: metrics_out[t] for t in fp.targets if t in metrics_out}, indent=2,
                                       default=_jsonable) + "\n")
    outcome.results = sorted(results, key=lambda r: list(fp.targets).index(r.target))
    return outcome


def _advance(bar: tqdm) -> None:
    bar.update(1)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN (a Spearman of constant predictions is undefined): null instead."""
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def results_frame(outcome: FinetuneOutcome) -> pd.DataFrame:
    """One row per target: status, eval metrics and the collapse figures (for the notebook)."""
    rows = [{"target": r.target, "status": r.status, **{k: r.metrics.get(k) for k in
             ("mae", "mae_ci_low", "mae_ci_high", "rmse", "spearman", "n", "train_seconds")},
             "pred_std_ratio": r.model_params.get("pred_std_ratio"), "collapsed": r.model_params.get("collapsed")}
            for r in outcome.results]
    return pd.DataFrame(rows)
