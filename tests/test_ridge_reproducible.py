"""The ridge baselines give the same numbers on any machine: one BLAS thread whatever the caller allows, and a
TF-IDF ridge solved to the exact solution (checked against the closed form), not to a loose tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from rap_analyzer.models.baselines import RidgeTfidf

N_TRAIN, N_EVAL, VOCABULARY = 160, 40, 12_000  # above OpenBLAS's 10 000-element threshold for threaded dots


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    words = np.array([f"w{i}" for i in range(VOCABULARY)])
    texts = [" ".join(rng.choice(words, size=400)) for _ in range(N_TRAIN + N_EVAL)]
    frame = pd.DataFrame({"source_key": [f"k{i}" for i in range(len(texts))], "lyrics_clean": texts,
                          "popularity": rng.uniform(1, 10, len(texts))})
    return frame.iloc[:N_TRAIN].reset_index(drop=True), frame.iloc[N_TRAIN:].reset_index(drop=True)


def fit_predict(frames: tuple[pd.DataFrame, pd.DataFrame], threads: int) -> tuple[RidgeTfidf, np.ndarray]:
    train, eval_ = frames
    with threadpool_limits(limits=threads, user_api="blas"):
        model = RidgeTfidf("popularity", alpha=1.0, max_features=VOCABULARY).fit(train)
        return model, model.predict(eval_)


def test_predictions_do_not_depend_on_the_blas_thread_count(frames) -> None:
    _, one = fit_predict(frames, 1)
    _, two = fit_predict(frames, 2)
    assert one.tobytes() == two.tobytes()  # bit for bit, not approximately


def test_tfidf_ridge_reaches_the_closed_form_solution(frames) -> None:
    """Oracle: ridge with an unpenalised intercept is, on centred data, w = Xcᵀ (Xc Xcᵀ + αI)⁻¹ (y - ȳ),
    b = ȳ - x̄ᵀw (the dual form; Hastie, Tibshirani & Friedman, ESL 2nd ed., §3.4.1 and ex. 3.5)."""
    train, eval_ = frames
    model, pred = fit_predict(frames, 1)
    vectorizer = model.model[0]
    x = vectorizer.transform(train["lyrics_clean"]).toarray()
    y = train["popularity"].to_numpy(float)
    x_mean, y_mean = x.mean(axis=0), y.mean()
    centred = x - x_mean
    dual = np.linalg.solve(centred @ centred.T + 1.0 * np.eye(len(x)), y - y_mean)
    w = centred.T @ dual
    exact = vectorizer.transform(eval_["lyrics_clean"]).toarray() @ w + (y_mean - x_mean @ w)
    assert np.abs(pred - exact).max() < 1e-8  # sklearn's default tol (1e-4) misses this by orders of magnitude
