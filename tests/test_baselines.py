"""Baselines on synthetic frames with known structure: each must behave as documented and run_baselines must
report what its models actually predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import params_with

from rap_analyzer.models.baseline_runs import run_baselines
from rap_analyzer.models.baselines import (
    MeanBaseline,
    RandomBaseline,
    RidgeEmbeddings,
    RuleBaseline,
    SkipModel,
    embeddings_from_frame,
    embeddings_from_matrix,
    rule_columns,
)
from rap_analyzer.models.metrics import mae, regression_report

FEATURES = ["repetition_ratio", "rhyme_density", "mattr", "noise"]
PARAMS = params_with({"baselines": {"seed": 0, "n_bootstrap": 200, "ridge_alpha": 1.0,
                                   "tfidf_max_features": 500}}).baselines


def frame(n: int, seed: int, prefix: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    hit = rng.random(n) < 0.5  # the word "banger" raises popularity: TF-IDF can find it
    words = [" ".join(["banger"] * int(h) + [f"w{rng.integers(10)}" for _ in range(20)]) for h in hit]
    y = np.clip(4.5 + 1.0 * x[:, 0] + 0.7 * x[:, 1] - 0.7 * x[:, 2] + 3.0 * hit + rng.normal(0, 0.3, n), 1, 10)
    df = pd.DataFrame(x, columns=FEATURES)
    df["source_key"] = [f"{prefix}:{i}" for i in range(n)]
    df["artist"] = [f"{prefix} artist {i % 8}" for i in range(n)]
    df["lyrics_clean"] = words
    df["popularity"] = y
    df["fold"] = np.arange(n) % 3
    return df


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    train, eval_ = frame(240, 1, "t"), frame(80, 2, "e")
    eval_ = eval_.drop(columns="fold").assign(fold=-1)
    train.loc[:4, "popularity"] = np.nan  # unlabelled rows must be left out, not scored
    return train, eval_


def test_random_and_mean(data) -> None:
    train, eval_ = data
    rnd = RandomBaseline("popularity", seed=3).fit(train)
    pred = rnd.predict(eval_)
    assert pred.min() >= train["popularity"].min() and pred.max() <= train["popularity"].max()
    assert np.array_equal(pred, RandomBaseline("popularity", seed=3).fit(train).predict(eval_))
    mean = MeanBaseline("popularity").fit(train).predict(eval_)
    assert np.allclose(mean, train["popularity"].mean())


def test_rule_is_monotone_fixed_and_in_range(data) -> None:
    train, eval_ = data
    assert rule_columns("popularity", FEATURES) == {"repetition_ratio": 1, "rhyme_density": 1, "mattr": -1}
    rule = RuleBaseline("popularity", FEATURES).fit(train)
    pred = rule.predict(eval_)
    lo, hi = train["popularity"].min(), train["popularity"].max()
    assert pred.min() >= lo and pred.max() <= hi
    # one row predicted alone equals the same row predicted in a batch: nothing is fitted on eval
    assert rule.predict(eval_.iloc[[7]])[0] == pytest.approx(pred[7])
    up = eval_.iloc[[0]].assign(repetition_ratio=10.0, mattr=-10.0)
    down = eval_.iloc[[0]].assign(repetition_ratio=-10.0, mattr=10.0)
    assert rule.predict(up)[0] > rule.predict(down)[0]
    with pytest.raises(SkipModel, match="no feature column"):
        RuleBaseline("popularity", ["noise"])


def test_embeddings_need_every_key(data) -> None:
    train, _ = data
    emb = embeddings_from_matrix(train["source_key"].iloc[:-1].tolist(), np.ones((len(train) - 1, 4)))
    with pytest.raises(SkipModel, match="1 of"):
        RidgeEmbeddings("popularity", 1.0, emb).fit(train)
    with pytest.raises(ValueError, match="aligned"):
        embeddings_from_matrix(["a"], np.ones((2, 4)))


def test_run_baselines_reports_real_predictions(data) -> None:
    train, eval_ = data
    results = {r.model: r for r in run_baselines(train, eval_, "popularity", FEATURES, None, PARAMS)}
    assert list(results) == ["random", "mean", "rule", "ridge_features", "ridge_tfidf", "ridge_embeddings"]
    assert results["ridge_embeddings"].status == "skipped"
    assert results["ridge_embeddings"].reason == "no embeddings given"
    assert results["ridge_embeddings"].predictions is None

    mean = results["mean"]
    labelled = train[train["popularity"].notna()]
    manual_cv = [mae(labelled.loc[labelled["fold"] == k, "popularity"],
                     np.full((labelled["fold"] == k).sum(), labelled.loc[labelled["fold"] != k, "popularity"].mean()))
                 for k in range(3)]
    assert mean.cv_maes == pytest.approx(manual_cv)
    assert mean.cv_mae_mean == pytest.approx(np.mean(manual_cv))

    for r in results.values():
        if r.status != "ok":
            continue
        assert len(r.predictions) == len(eval_)
        assert r.predictions["artist"].tolist() == eval_["artist"].tolist()
        expected = regression_report(r.predictions["y_true"], r.predictions["y_pred"], PARAMS.n_bootstrap,
                                     PARAMS.seed, groups=eval_["artist"])
        assert {k: r.metrics[k] for k in expected} == pytest.approx(expected, nan_ok=True)
        assert r.metrics["n_artists"] == 8 and r.metrics["train_seconds"] >= 0
    # the synthetic target is learnable: the learned models must beat the mean, the mean must beat random
    assert results["ridge_features"].metrics["mae"] < mean.metrics["mae"] < results["random"].metrics["mae"]
    assert results["ridge_tfidf"].metrics["mae"] < mean.metrics["mae"]
    assert results["rule"].metrics["spearman"] > 0.3


def test_run_baselines_with_embeddings(data) -> None:
    train, eval_ = data
    keys = pd.concat([train, eval_])["source_key"].tolist()
    vectors = pd.concat([train, eval_])[FEATURES].to_numpy()  # an "embedding" that carries the signal
    rows = pd.DataFrame({"source_key": keys, "embedding": list(vectors)})  # the embed stage's layout
    assert embeddings_from_frame(rows).keys() == embeddings_from_matrix(keys, vectors).keys()
    results = run_baselines(train, eval_, "popularity", FEATURES, embeddings_from_frame(rows), PARAMS)
    emb = next(r for r in results if r.model == "ridge_embeddings")
    mean = next(r for r in results if r.model == "mean")
    assert emb.status == "ok" and emb.metrics["mae"] < mean.metrics["mae"]
    assert len(emb.cv_maes) == 3


def test_missing_columns_are_clear_errors(data) -> None:
    train, eval_ = data
    with pytest.raises(ValueError, match="'release_year'"):
        run_baselines(train, eval_, "release_year", FEATURES, None, PARAMS)
    with pytest.raises(ValueError, match="fold"):
        run_baselines(train.drop(columns="fold"), eval_, "popularity", FEATURES, None, PARAMS)


def test_final_models_never_see_the_eval_labels(data) -> None:
    # Leakage guard with an independent oracle: the eval predictions of every model must not move when the eval
    # labels do (a final model fitted on eval, or on train + eval, would follow them); and the mean baseline
    # predicts the labelled TRAIN mean, written out here.
    train, eval_ = data
    shifted = eval_.assign(popularity=eval_["popularity"].to_numpy()[::-1] + 3.0)
    first = {r.model: r for r in run_baselines(train, eval_, "popularity", FEATURES, None, PARAMS)}
    second = {r.model: r for r in run_baselines(train, shifted, "popularity", FEATURES, None, PARAMS)}
    for name, r in first.items():
        if r.status != "ok":
            continue
        assert np.array_equal(r.predictions["y_pred"], second[name].predictions["y_pred"]), name
        assert r.cv_maes == second[name].cv_maes, name
    train_mean = float(np.nanmean(train["popularity"]))
    assert np.allclose(first["mean"].predictions["y_pred"], train_mean)
    assert not np.isclose(train_mean, eval_["popularity"].mean())  # the check above can tell the two apart
