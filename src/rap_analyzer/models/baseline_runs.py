"""Running the baselines: `run_baselines` fits each model of `rap_analyzer.models.baselines` on train, scores
it on eval and by artist-grouped CV on train's `fold` column, and returns a `ModelResult` per model (the
shape every scored model, the LLM too, is logged and ranked in), the fitted final model in `fitted`. A model
that cannot run is returned with status "skipped" and the reason. `repeated_group_cv` scores a model by
repeated artist-grouped cross-validation over any labelled frame (the select stage runs it on all artists)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

from rap_analyzer.config import BaselinesParams
from rap_analyzer.models.baselines import (
    MeanBaseline,
    RandomBaseline,
    RidgeEmbeddings,
    RidgeFeatures,
    RidgeTfidf,
    RuleBaseline,
    SkipModel,
)
from rap_analyzer.models.metrics import mae, regression_report
from rap_analyzer.models.result import ModelResult


def make_baselines(target: str, feature_cols: list[str], embeddings: dict[str, np.ndarray] | None,
                   params: BaselinesParams) -> list[tuple[str, Any]]:
    """(name, factory) pairs: a factory builds a fresh model or raises SkipModel with the reason."""
    return [
        ("random", lambda: RandomBaseline(target, params.seed)),
        ("mean", lambda: MeanBaseline(target)),
        ("rule", lambda: RuleBaseline(target, feature_cols)),
        ("ridge_features", lambda: RidgeFeatures(target, params.ridge_alpha, feature_cols)),
        ("ridge_tfidf", lambda: RidgeTfidf(target, params.ridge_alpha, params.tfidf_max_features)),
        ("ridge_embeddings", lambda: RidgeEmbeddings(target, params.ridge_alpha, embeddings)),
    ]


def _run_one(name: str, factory: Any, train: pd.DataFrame, eval_: pd.DataFrame, target: str,
             params: BaselinesParams) -> ModelResult:
    try:
        start = time.perf_counter()
        cv_maes = []
        folds = sorted(train["fold"].unique())
        for fold in folds if len(folds) > 1 else []:  # one fold left after labelling: no CV possible
            inner, held = train[train["fold"] != fold], train[train["fold"] == fold]
            pred = factory().fit(inner).predict(held)
            ok = np.isfinite(pred)  # failures are counted on eval; CV scores what was predicted
            if ok.any():
                cv_maes.append(mae(held[target].to_numpy(float)[ok], pred[ok]))
        fit_start = time.perf_counter()
        model = factory().fit(train)
        predict_start = time.perf_counter()
        pred = model.predict(eval_)
        done = time.perf_counter()
    except SkipModel as exc:
        return ModelResult(model=name, target=target, status="skipped", reason=str(exc))
    y_true = eval_[target].to_numpy(float)
    metrics = regression_report(y_true, pred, params.n_bootstrap, params.seed, count_failures=True,
                                groups=eval_["artist"])
    # Timings are operational figures (MLflow only, never DVC metrics): they differ on every run.
    metrics |= {"train_seconds": predict_start - fit_start, "predict_seconds_per_track": (done - predict_start)
                / max(len(eval_), 1)}
    predictions = pd.DataFrame({"source_key": eval_["source_key"].to_numpy(), "artist": eval_["artist"].to_numpy(),
                                "y_true": y_true, "y_pred": pred})
    return ModelResult(model=name, target=target, status="ok", metrics=metrics, cv_maes=cv_maes,
                       predictions=predictions, model_params=model.params(), seconds=done - start, fitted=model)


def repeated_group_cv(frame: pd.DataFrame, target: str, factory: Any, n_repeats: int, n_folds: int,
                      seed: int) -> list[float]:
    """MAE of each fold of `n_repeats` × `n_folds` artist-grouped CV over `frame`'s labelled rows.

    Repeat r shuffles artists into folds with GroupKFold(shuffle=True, random_state=seed + r), so no artist is
    ever in both the fitting and the scored part. A fold's failed (NaN) predictions are left out of its MAE.
    Returns n_repeats × n_folds values (fewer if a fold predicted nothing). Raises SkipModel as the factory
    does, ValueError with fewer artists than folds."""
    frame = frame[frame[target].notna()].reset_index(drop=True)
    groups = frame["artist"].to_numpy()
    if len(np.unique(groups)) < n_folds:
        raise ValueError(f"{len(np.unique(groups))} labelled artists for {n_folds} folds; lower select.cv_folds")
    maes = []
    for repeat in range(n_repeats):
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed + repeat)
        for fit_idx, held_idx in splitter.split(frame, groups=groups):
            held = frame.iloc[held_idx]
            pred = factory().fit(frame.iloc[fit_idx]).predict(held)
            ok = np.isfinite(pred)
            if ok.any():
                maes.append(mae(held[target].to_numpy(float)[ok], pred[ok]))
    return maes


def run_baselines(train: pd.DataFrame, eval_: pd.DataFrame, target: str, feature_cols: list[str],
                  embeddings: dict[str, np.ndarray] | None, params: BaselinesParams) -> list[ModelResult]:
    """Every baseline for `target`: eval metrics, grouped-fold CV MAE on train, eval predictions."""
    for name, frame in (("train", train), ("eval", eval_)):
        if target not in frame.columns:
            raise ValueError(f"{name} has no {target!r} column; run the prepare stage first")
    if "fold" not in train.columns:
        raise ValueError("train has no 'fold' column; build it with rap_analyzer.dataset.build_dataset")
    if "artist" not in eval_.columns:
        raise ValueError("eval has no 'artist' column: confidence intervals resample artists; run the prepare stage")
    train = train[train[target].notna()].reset_index(drop=True)
    eval_ = eval_[eval_[target].notna()].reset_index(drop=True)
    if train.empty or eval_.empty:
        # e.g. the catalog source has no pageviews: say so on the leaderboard rather than fail the stage
        reason = f"no labelled {target} rows in train ({len(train)}) or eval ({len(eval_)}); the source provides none"
        return [ModelResult("all baselines", target, "skipped", reason)]
    results = []
    for name, factory in tqdm(make_baselines(target, feature_cols, embeddings, params), desc=f"baselines {target}"):
        results.append(_run_one(name, factory, train, eval_, target, params))
    return results
