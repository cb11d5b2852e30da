"""Regression metrics shared by baselines, the LLM evaluation and fine-tuned models.

Pairs whose true label is NaN are not scored (that track simply has no label). A NaN prediction is a model
failure: by default it is an error, so that a broken model cannot look good by silently scoring fewer rows;
with `count_failures=True` failed rows are left out of the metrics and reported as `n_failed` and
`failure_rate`, which must then be read together with the metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_true, float) - np.asarray(y_pred, float)) ** 2)))


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """Spearman rho and its p-value; NaN for constant input (e.g. the mean baseline), where it is undefined."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if len(y_true) < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        return float("nan"), float("nan")
    res = stats.spearmanr(y_true, y_pred)
    return float(res.statistic), float(res.pvalue)


def bootstrap_mae_ci(y_true: np.ndarray, y_pred: np.ndarray, n_bootstrap: int, seed: int,
                     level: float = 0.95, chunk: int = 200) -> tuple[float, float]:
    """Percentile bootstrap CI of the MAE: resample pairs with replacement `n_bootstrap` times."""
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be positive, got {n_bootstrap}; fix baselines.n_bootstrap")
    errors = np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))
    n = len(errors)
    rng = np.random.default_rng(seed)
    maes = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, chunk):  # chunks bound memory at chunk × n indices
        stop = min(start + chunk, n_bootstrap)
        idx = rng.integers(0, n, size=(stop - start, n))
        maes[start:stop] = errors[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(maes, [alpha, 1.0 - alpha])
    return float(low), float(high)


def regression_report(y_true: Any, y_pred: Any, n_bootstrap: int, seed: int,
                      count_failures: bool = False) -> dict[str, float | int]:
    """MAE, RMSE, Spearman and a bootstrap 95% CI of the MAE over the scorable pairs."""
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}; predict one value per row")
    labelled = ~np.isnan(t)
    failed = labelled & ~np.isfinite(p)
    n_failed = int(failed.sum())
    if n_failed and not count_failures:
        raise ValueError(
            f"{n_failed} of {int(labelled.sum())} predictions are NaN/inf; fix the model or pass "
            "count_failures=True to score them as failures"
        )
    ok = labelled & ~failed
    n = int(ok.sum())
    if n == 0:
        raise ValueError("no pair with both a label and a prediction to score")
    t, p = t[ok], p[ok]
    rho, p_value = spearman(t, p)
    low, high = bootstrap_mae_ci(t, p, n_bootstrap, seed)
    return {
        "n": n,
        "n_unlabelled": int((~labelled).sum()),
        "n_failed": n_failed,
        "failure_rate": n_failed / int(labelled.sum()),
        "mae": mae(t, p),
        "rmse": rmse(t, p),
        "spearman": rho,
        "spearman_p": p_value,
        "mae_ci_low": low,
        "mae_ci_high": high,
    }
