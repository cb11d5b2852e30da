"""Baseline behaviours the other baseline tests leave open (issue 16). Oracles: the rule's empirical CDF worked
out by hand, ridge's closed form on TF-IDF features made by an independently configured scikit-learn vectorizer,
the definition of median imputation, the scale invariance of a standardised ridge, and threadpoolctl's own report
of the BLAS threads in effect while scikit-learn's Ridge fits and predicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_info, threadpool_limits

from rap_analyzer.models.baselines import (
    MeanBaseline,
    RandomBaseline,
    RidgeBaseline,
    RidgeEmbeddings,
    RidgeFeatures,
    RidgeTfidf,
    RuleBaseline,
    SkipModel,
    rule_predict,
)


def features_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = 5 + x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 0.3, n)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2] * 100, "popularity": y})


# --- the rule baseline -------------------------------------------------------------------------------------------

def test_rule_percentile_is_the_empirical_cdf_of_train() -> None:
    # ECDF(x) = share of train values <= x. Train [1, 2, 2, 3]: ECDF(2) = 3/4, ECDF(0) = 0, ECDF(3) = 1; with the
    # label range [0, 8] the prediction is 8 × the (flipped, for sign -1) percentile.
    ref = {"f": np.array([1.0, 2.0, 2.0, 3.0])}
    rows = pd.DataFrame({"f": [2.0, 0.0, 3.0, 2.5]})
    assert rule_predict({"f": 1}, ref, 0.0, 8.0, rows) == pytest.approx([6.0, 0.0, 8.0, 6.0])
    assert rule_predict({"f": -1}, ref, 0.0, 8.0, rows) == pytest.approx([2.0, 8.0, 0.0, 2.0])


def test_rule_with_one_train_value_is_a_step() -> None:
    ref = {"f": np.array([5.0])}
    assert rule_predict({"f": 1}, ref, 1.0, 10.0, pd.DataFrame({"f": [4.0, 5.0, 6.0]})) == pytest.approx(
        [1.0, 10.0, 10.0])


def test_rule_averages_the_known_features_and_a_row_without_any_is_nan() -> None:
    # Two rule features; a row missing one is scored on the other alone (its percentile, not half of it), a row
    # missing both is a failure (NaN), not the bottom of the range.
    ref = {"f": np.array([1.0, 2.0, 3.0, 4.0]), "g": np.array([10.0, 20.0, 30.0, 40.0])}
    rows = pd.DataFrame({"f": [3.0, np.nan, np.nan, 4.0], "g": [np.nan, 20.0, np.nan, 10.0]})
    pred = rule_predict({"f": 1, "g": 1}, ref, 0.0, 1.0, rows)
    assert pred[:2] == pytest.approx([3 / 4, 2 / 4]) and np.isnan(pred[2])
    assert pred[3] == pytest.approx((4 / 4 + 1 / 4) / 2)


def test_rule_for_a_target_without_rules_is_skipped_with_its_reason() -> None:
    with pytest.raises(SkipModel, match=r"^no feature column matches the some_target rule keywords \[\]$"):
        RuleBaseline("some_target", ["repetition_ratio"])
    with pytest.raises(SkipModel, match=r"^no feature column matches the popularity rule keywords \['repet', "
                                        r"'rhyme', 'lexical', 'ttr', 'mtld', 'unique'\]$"):
        RuleBaseline("popularity", ["noise"])


def test_no_labelled_train_row_is_a_skip_with_its_reason() -> None:
    train = pd.DataFrame({"popularity": [np.nan, np.nan], "a": [1.0, 2.0]})
    with pytest.raises(SkipModel, match=r"^no training rows with a popularity label$"):
        MeanBaseline("popularity").fit(train)
    with pytest.raises(SkipModel, match=r"^no feature columns given$"):
        RidgeFeatures("popularity", 1.0, [])


# --- ridge models ------------------------------------------------------------------------------------------------

def closed_form_ridge(x: np.ndarray, y: np.ndarray, alpha: float, x_new: np.ndarray) -> np.ndarray:
    """Ridge with an unpenalised intercept, primal form on centred data: w = (XcᵀXc + αI)⁻¹ Xcᵀ(y − ȳ)."""
    mean_x, mean_y = x.mean(axis=0), y.mean()
    xc = x - mean_x
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - mean_y))
    return x_new @ w + (mean_y - mean_x @ w)


def test_tfidf_ridge_uses_sublinear_tfidf_of_the_top_words_and_its_alpha() -> None:
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(60)]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(5, 40)))) for _ in range(50)]
    frame = pd.DataFrame({"lyrics_clean": texts, "popularity": rng.uniform(1, 10, 50)})
    train, eval_ = frame.iloc[:40], frame.iloc[40:]
    model = RidgeTfidf("popularity", alpha=3.0, max_features=25).fit(train)
    vectorizer = TfidfVectorizer(max_features=25, sublinear_tf=True).fit(train["lyrics_clean"])
    x = vectorizer.transform(train["lyrics_clean"]).toarray()
    expected = closed_form_ridge(x, train["popularity"].to_numpy(), 3.0,
                                 vectorizer.transform(eval_["lyrics_clean"]).toarray())
    assert model.predict(eval_) == pytest.approx(expected, abs=1e-8)


def test_a_missing_lyric_is_no_words() -> None:
    # "nan" (a grandmother, in UK rap) and "xxxx" (a censored word) are words of the train texts: a missing lyric
    # must predict like an empty one, not like a text holding either word.
    texts = ["my nan said", "xxxx that", "nan nan nan", "xxxx xxxx", "said that", "that nan xxxx"]
    train = pd.DataFrame({"lyrics_clean": texts, "popularity": [9.0, 2.0, 9.5, 1.0, 5.0, 6.0]})
    model = RidgeTfidf("popularity", alpha=0.5, max_features=100).fit(train)
    rows = pd.DataFrame({"lyrics_clean": [None, np.nan, "", "nan"]})
    missing_none, missing_nan, empty, nan_word = model.predict(rows)
    assert missing_none == pytest.approx(empty, abs=1e-9) and missing_nan == pytest.approx(empty, abs=1e-9)
    assert nan_word != pytest.approx(empty, abs=1e-3)  # the word itself does move the prediction


def test_feature_ridge_imputes_the_train_median() -> None:
    train, eval_ = features_frame(60, 0), features_frame(10, 1)
    model = RidgeFeatures("popularity", 1.0, ["a", "b", "c"]).fit(train)
    holes = eval_.copy()
    holes.loc[holes.index[:3], "a"] = np.nan
    filled = holes.fillna({"a": train["a"].median()})
    assert model.predict(holes) == pytest.approx(model.predict(filled), abs=1e-12)


def test_feature_ridge_does_not_depend_on_the_units_of_a_feature() -> None:
    # Standardised features: the same measure in other units (× 1000, + 7) gives the same predictions.
    train, eval_ = features_frame(60, 0), features_frame(10, 1)
    base = RidgeFeatures("popularity", 5.0, ["a", "b", "c"]).fit(train).predict(eval_)
    scaled = RidgeFeatures("popularity", 5.0, ["a", "b", "c"]).fit(train.assign(b=train["b"] * 1000 + 7)).predict(
        eval_.assign(b=eval_["b"] * 1000 + 7))
    assert scaled == pytest.approx(base, abs=1e-9)


def test_an_unfitted_ridge_says_fit_first() -> None:
    with pytest.raises(NotFittedError):
        RidgeFeatures("popularity", 1.0, ["a"]).predict(pd.DataFrame({"a": [1.0]}))


def test_embeddings_in_single_precision_fit_as_double() -> None:
    # The embed stage stores float32; the ridge must fit the same numbers as on the float64 values.
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    frame = pd.DataFrame({"source_key": [f"k{i}" for i in range(30)], "popularity": rng.uniform(1, 10, 30)})
    single = {k: v for k, v in zip(frame["source_key"], vectors, strict=True)}
    double = {k: v.astype(np.float64) for k, v in single.items()}
    pred32 = RidgeEmbeddings("popularity", 1.0, single).fit(frame).predict(frame)
    pred64 = RidgeEmbeddings("popularity", 1.0, double).fit(frame).predict(frame)
    assert pred32.dtype == np.float64 and np.array_equal(pred32, pred64)


def blas_threads() -> set[int]:
    """The thread counts of every BLAS library loaded (numpy's and scipy's OpenBLAS), as threadpoolctl reads them."""
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def ridge_models() -> list[tuple[RidgeBaseline, pd.DataFrame]]:
    features = features_frame(40, 0)
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(30)]
    texts = pd.DataFrame({"lyrics_clean": [" ".join(rng.choice(words, 12)) for _ in range(40)],
                          "popularity": rng.uniform(1, 10, 40)})
    keyed = pd.DataFrame({"source_key": [f"k{i}" for i in range(40)], "popularity": rng.uniform(1, 10, 40)})
    vectors = {k: rng.normal(size=6) for k in keyed["source_key"]}
    return [(RidgeFeatures("popularity", 1.0, ["a", "b", "c"]), features),
            (RidgeTfidf("popularity", 1.0, 20), texts), (RidgeEmbeddings("popularity", 1.0, vectors), keyed)]


def test_ridge_fits_and_predicts_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reruns repeat the numbers bit for bit only on one BLAS thread (RidgeBaseline's docstring): whatever the
    # machine starts with (4 threads here), the solver itself must run on 1, and the caller's setting returns after.
    seen: list[tuple[str, set[int]]] = []
    fit, predict = Ridge.fit, Ridge.predict

    def recording_fit(self: Ridge, *args: Any, **kwargs: Any) -> Ridge:
        seen.append(("fit", blas_threads()))
        return fit(self, *args, **kwargs)

    def recording_predict(self: Ridge, *args: Any, **kwargs: Any) -> np.ndarray:
        seen.append(("predict", blas_threads()))
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(Ridge, "fit", recording_fit)
    monkeypatch.setattr(Ridge, "predict", recording_predict)
    with threadpool_limits(limits=4, user_api="blas"):
        assert blas_threads() == {4}
        for model, frame in ridge_models():
            model.fit(frame).predict(frame)
        assert blas_threads() == {4}
    assert seen == [("fit", {1}), ("predict", {1})] * 3


# --- what each model records as its parameters (MLflow params) --------------------------------------------------

def test_each_model_records_the_settings_it_was_built_with() -> None:
    assert RandomBaseline("popularity", seed=3).params() == {"seed": 3}
    assert MeanBaseline("popularity").params() == {}
    assert RidgeFeatures("popularity", 2.0, ["a", "b"]).params() == {"alpha": 2.0, "n_features": 2}
    assert RidgeTfidf("popularity", 2.0, 500).params() == {"alpha": 2.0, "tfidf_max_features": 500}
    assert RidgeEmbeddings("popularity", 2.0, {"k": np.zeros(2)}).params() == {"alpha": 2.0}
    assert RuleBaseline("popularity", ["mattr", "noise"]).params() == {"rules": {"mattr": -1}}
