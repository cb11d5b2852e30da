"""Running the baselines: `run_baselines` fits each model of `rap_analyzer.models.baselines` on train, scores
it on eval and by artist-grouped CV on train's `fold` column, and returns a `ModelResult` per model (the
shape every scored model, the LLM too, is logged and ranked in). A model that cannot run is returned with
status "skipped" and the reason."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
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
        model = factory().fit(train)
        pred = model.predict(eval_)
        seconds = time.perf_counter() - start
    except SkipModel as exc:
        return ModelResult(model=name, target=target, status="skipped", reason=str(exc))
    y_true = eval_[target].to_numpy(float)
    metrics = regression_report(y_true, pred, params.n_bootstrap, params.seed, count_failures=True)
    predictions = pd.DataFrame({"source_key": eval_["source_key"].to_numpy(), "y_true": y_true, "y_pred": pred})
    return ModelResult(model=name, target=target, status="ok", metrics=metrics, cv_maes=cv_maes,
                          predictions=predictions, model_params=model.params(), seconds=seconds)


def run_baselines(train: pd.DataFrame, eval_: pd.DataFrame, target: str, feature_cols: list[str],
                  embeddings: dict[str, np.ndarray] | None, params: BaselinesParams) -> list[ModelResult]:
    """Every baseline for `target`: eval metrics, grouped-fold CV MAE on train, eval predictions."""
    for name, frame in (("train", train), ("eval", eval_)):
        if target not in frame.columns:
            raise ValueError(f"{name} has no {target!r} column; run the prepare stage first")
    if "fold" not in train.columns:
        raise ValueError("train has no 'fold' column; build it with rap_analyzer.dataset.build_dataset")
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
