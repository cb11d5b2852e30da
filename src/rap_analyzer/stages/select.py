"""Entry point of the `select` stage, shared by the CLI and `notebooks/06_compare.ipynb`: every model MLflow holds
for the current dataset version, compared honestly (artist-cluster bootstrap, paired differences, repeated
artist-grouped CV for the fast models), the champion per target registered in the MLflow Model Registry
(`models:/rap-analyzer-<target>@champion`) and saved to the BentoML store for serving."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rap_analyzer.config import Params, SelectParams
from rap_analyzer.errors import UserError
from rap_analyzer.models.baseline_runs import make_baselines, repeated_group_cv
from rap_analyzer.models.baselines import SkipModel, embeddings_from_frame
from rap_analyzer.models.predictor import load_predictor, read_predictor_meta, registered_kinds, save_champion
from rap_analyzer.tracking.mlflow_log import MODEL_ARTIFACT, client_for
from rap_analyzer.tracking.registry import register_champion
from rap_analyzer.tracking.select_plots import write_select_plots
from rap_analyzer.tracking.select_report import selection_json, write_report
from rap_analyzer.tracking.selection import Candidate, TargetSelection, labelled_eval, load_candidates, select_target


@dataclass
class SelectResult:
    selections: dict[str, TargetSelection]
    report: dict[str, dict[str, Any]]  # per target: what leaderboard.json holds
    paths: dict[str, Path]


def repeated_cv(frame: pd.DataFrame, target: str, names: list[str], feature_cols: list[str],
                embeddings: dict[str, np.ndarray] | None, params: Params) -> dict[str, dict[str, float]]:
    """{model: {mean, std, n_folds}} of repeated artist-grouped CV over all labelled artists, for the baselines
    among `names` (a baseline that cannot run here is left out)."""
    sp = params.select
    out = {}
    for name, factory in make_baselines(target, feature_cols, embeddings, params.baselines):
        if name not in names:
            continue
        try:
            maes = repeated_group_cv(frame, target, factory, sp.cv_repeats, sp.cv_folds, sp.seed)
        except SkipModel:
            continue
        out[name] = {"mean": float(np.mean(maes)), "std": float(np.std(maes, ddof=1)) if len(maes) > 1 else np.nan,
                     "n_folds": len(maes)}
    return out


@dataclass
class Loaded:
    """A candidate's saved model, loaded from its run and timed on the eval lyrics."""

    predictor: Any
    folder: Path
    stats: dict[str, float]  # load_seconds, seconds_per_prediction, reproduced_max_abs_diff


def load_and_time(client: Any, candidate: Candidate, eval_: pd.DataFrame, tmp: Path) -> Loaded:
    """Download the run's `model` folder, load it (timed: the embedder or LoRA base included) and predict every
    eval track it scored from the lyrics (timed, per track, on this machine), comparing with the logged values."""
    folder = Path(client.download_artifacts(candidate.run_id, MODEL_ARTIFACT, str(tmp / candidate.run_id)))
    start = time.perf_counter()
    predictor = load_predictor(folder)
    loaded = time.perf_counter()
    lyrics = eval_.set_index(eval_["source_key"].astype(str))["lyrics_clean"]
    logged = candidate.frame.dropna(subset=["y_pred"])
    again = predictor.predict(lyrics.loc[logged["source_key"]].astype(str).tolist())
    done = time.perf_counter()
    # A track the reloaded model now fails on (NaN) is infinitely far from its logged value, never skipped.
    gaps = np.abs(np.asarray(again, float) - logged["y_pred"].to_numpy(float))
    deviation = float(np.max(np.where(np.isfinite(gaps), gaps, np.inf))) if len(logged) else 0.0
    return Loaded(predictor, folder, {"load_seconds": loaded - start,
                                      "seconds_per_prediction": (done - loaded) / max(len(logged), 1),
                                      "reproduced_max_abs_diff": deviation})


def save_champion_of(champion: Candidate, loaded: Loaded, target: str, dataset_hash: str, sp: SelectParams,
                     mlflow_uri: str | None) -> dict[str, Any]:
    """Save the champion to the BentoML store and the MLflow registry, once it is shown to reproduce its logged
    eval predictions. Raises UserError when it does not."""
    deviation = loaded.stats["reproduced_max_abs_diff"]
    if not deviation <= sp.reproduce_tolerance:
        raise UserError(f"the saved {champion.model} model of run {champion.run_id} predicts the eval tracks up "
                        f"to {deviation:.4g} away from its logged predictions (select.reproduce_tolerance = "
                        f"{sp.reproduce_tolerance}); re-run its stage so that model and predictions match")
    m = champion.metrics
    metrics = {k: m.get(k) for k in ("mae", "mae_ci_low", "mae_ci_high", "rmse", "spearman", "n",
                                     "within_artist_spearman")}
    metadata = {
        "target": target, "dataset_hash": dataset_hash, "mlflow_run_id": champion.run_id,
        "model": champion.model, "kind": champion.kind, "created_at": datetime.now(UTC).isoformat(),
        "metrics": {k: (float(v) if v is not None and np.isfinite(v) else None) for k, v in metrics.items()},
        "needs": read_predictor_meta(loaded.folder).get("needs", []),
        **loaded.stats,
    }
    tag = save_champion(loaded.predictor, target, metadata)
    registry = register_champion(champion.run_id, loaded.folder, target, uri=mlflow_uri, tags={
        "dataset_hash": dataset_hash, "model": champion.model, "kind": champion.kind, "bentoml_tag": tag})
    return {"bentoml_tag": tag, "registry": registry, "created_at": metadata["created_at"], **loaded.stats}


def run(params: Params, dataset_dir: Path, embeddings_path: Path | None, reports_dir: Path,
        mlflow_uri: str | None = None, save: bool = True) -> SelectResult:
    """Reads dataset_dir/{train,eval}.parquet and dataset_info.json (the dataset hash), the embeddings parquet
    (optional; for the repeated CV of ridge_embeddings) and MLflow (every tagged run of that hash). Writes
    reports_dir/leaderboard.md, reports_dir/leaderboard.json and reports_dir/figures/select/*.png. Every
    servable model is loaded from its run and re-predicts the eval lyrics (timed; checked against its logged
    predictions). With `save`,
    each target's champion goes to the BentoML store (`rap-analyzer-<target>`) and the MLflow registry (alias
    `champion`). The artist classifier's held-out metrics (reports_dir/metrics/artist_classifier.json, when its
    stage ran) get their own leaderboard section. Raises UserError when MLflow holds no run for this dataset version."""
    sp = params.select
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per artifact otherwise
    info = json.loads((dataset_dir / "dataset_info.json").read_text())
    dataset_hash = str(info["dataset_hash"])
    train = pd.read_parquet(dataset_dir / "train.parquet")
    eval_ = pd.read_parquet(dataset_dir / "eval.parquet")
    everyone = pd.concat([train, eval_], ignore_index=True)
    feature_cols = list(info.get("features", {}).get("names", []))
    embeddings = None
    if embeddings_path is not None and embeddings_path.exists():
        embeddings = embeddings_from_frame(pd.read_parquet(embeddings_path))
    client = client_for(mlflow_uri)
    kinds = registered_kinds()
    figures = reports_dir / "figures" / "select"
    selections, report = {}, {}
    for target in sp.targets:
        truth = labelled_eval(eval_, target)
        if truth.empty:
            continue  # e.g. the catalog source has no popularity label: nothing to select on
        candidates, found = load_candidates(client, dataset_hash, target, truth)
        sel = select_target(candidates, target, sp.n_bootstrap, sp.seed, sp.collapse_std_ratio, kinds, info={
            "target": target, "n_eval_tracks": len(truth), "n_eval_artists": int(truth["artist"].nunique()),
            "n_bootstrap": sp.n_bootstrap, "seed": sp.seed, **found})
        if not sel.ranking and not sel.subsets:
            raise UserError(f"MLflow ({client.tracking_uri}) holds no scored run for dataset {dataset_hash[:12]} and "
                            f"target {target}: run the baselines stage first (`dvc repro baselines`)")
        cv = repeated_cv(everyone, target, [c.model for c in sel.ranking if c.kind == c.model], feature_cols,
                         embeddings, params)
        champion_info = None
        with tempfile.TemporaryDirectory() as tmp:
            loaded = {c.model: load_and_time(client, c, eval_, Path(tmp)) for c in sel.ranking
                      if c.servable and c.kind in kinds}
            for c in sel.ranking:
                c.serving = loaded[c.model].stats if c.model in loaded else {}
            if save and sel.champion is not None:
                champion_info = save_champion_of(sel.champion, loaded[sel.champion.model], target, dataset_hash, sp,
                                                 mlflow_uri)
        write_select_plots(sel, figures)
        selections[target] = sel
        report[target] = selection_json(sel, cv, champion_info)
    paths = {"markdown": reports_dir / "leaderboard.md", "json": reports_dir / "leaderboard.json",
             "figures": figures}
    classifier_path = reports_dir / "metrics" / "artist_classifier.json"  # the artist_classifier stage's
    classifier = json.loads(classifier_path.read_text()) if classifier_path.is_file() else None
    write_report(list(report.values()), paths["markdown"], paths["json"], header={
        "dataset_hash": dataset_hash, "n_bootstrap": sp.n_bootstrap, "seed": sp.seed,
        "cv_repeats": sp.cv_repeats, "cv_folds": sp.cv_folds,
        "ci": "95% percentile bootstrap resampling eval artists (clusters), not tracks"}, artist_classifier=classifier)
    return SelectResult(selections, report, paths)
