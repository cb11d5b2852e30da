"""Regression metrics shared by baselines, the LLM evaluation and fine-tuned models.

Confidence intervals resample ARTISTS, not tracks (cluster bootstrap: Davison & Hinkley 1997, "Bootstrap Methods
and their Application", §3.8 hierarchical data; Field & Welsh 2007, "Bootstrapping clustered data", JRSS B 69(3)):
an artist's songs share a style, a fan base and an era, so they are not independent observations, and resampling
tracks makes intervals too narrow (issue 9 measured about three times on the eval split's 10 artists; the select
stage reports the ratio for each champion). Every draw picks as many artists as there are, with replacement, and
takes the MAE over all tracks of the artists drawn (each artist as often as drawn). With fewer than two artists no
interval can be estimated: it is NaN.

Pairs whose true label is NaN are not scored (that track simply has no label). A NaN prediction is a model
failure: by default it is an error, so that a broken model cannot look good by silently scoring fewer rows;
with `count_failures=True` failed rows are left out of the metrics and reported as `n_failed` and
`failure_rate`, which must then be read together with the metrics.

Within-artist Spearman (`within_artist_spearman`, issue 13): the Spearman correlation between labels and
predictions inside each artist, averaged over artists (each artist weighs the same), with a percentile CI from
the same artist-cluster bootstrap (each draw averages the correlations of the artists drawn). It asks whether a
model orders an artist's songs, which a model that only recognises fame cannot do. An artist enters with at least
WITHIN_ARTIST_MIN_TRACKS scored tracks and labels that are not all equal; a model predicting one value for all of
an artist's songs ranks nothing there and scores 0 (the mean predictor scores 0 overall), rather than dropping
the artist, which would let a model be judged on the few artists it happens to separate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from rap_analyzer.dataset.split import artist_groups

# Fewer tracks than this: the artist is left out of the within-artist Spearman, since with 2 tracks it can only be
# -1 or +1 (the sign of one difference).
WITHIN_ARTIST_MIN_TRACKS = 3


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
    """Percentile bootstrap CI of the MAE resampling TRACKS (pairs) with replacement. Too narrow when tracks
    cluster by artist: kept only to show that contrast; reports use `cluster_bootstrap_mae_ci`."""
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


def _groups(groups: Any, n: int) -> np.ndarray:
    """Cluster labels as integer codes 0..k-1, artists compared as `dataset.split.artist_groups` does (trimmed,
    case-folded); a missing label is an error (it would form a fake artist)."""
    g = pd.Series(np.asarray(groups, dtype=object).ravel())
    if len(g) != n:
        raise ValueError(f"{len(g)} artist labels for {n} rows; pass one artist per row")
    if g.isna().any():
        raise ValueError(f"{int(g.isna().sum())} rows have no artist; the cluster bootstrap needs every row's artist")
    # The split's rule for one artist ("JAY-Z" and "Jay-Z " are one artist there, so one cluster here too).
    return pd.factorize(artist_groups(g), sort=True)[0]


def cluster_bootstrap_means(values: Any, groups: Any, n_bootstrap: int, seed: int, chunk: int = 200) -> np.ndarray:
    """The bootstrap distribution (shape (n_bootstrap,)) of the mean of `values` when whole clusters are drawn.

    Each draw takes k cluster indices with replacement (k = number of clusters) and returns
    sum(values of the drawn clusters) / count(rows of the drawn clusters), a cluster drawn twice counting twice.
    Raises ValueError for n_bootstrap < 1 or misaligned input."""
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be positive, got {n_bootstrap}; fix the stage's n_bootstrap")
    v = np.asarray(values, dtype=float).ravel()
    codes = _groups(groups, len(v))
    k = int(codes.max()) + 1 if len(codes) else 0
    if k == 0:
        raise ValueError("no rows to resample")
    sums = np.bincount(codes, weights=v, minlength=k)
    counts = np.bincount(codes, minlength=k).astype(float)
    rng = np.random.default_rng(seed)
    means = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, chunk):  # chunks bound memory at chunk × k indices
        stop = min(start + chunk, n_bootstrap)
        idx = rng.integers(0, k, size=(stop - start, k))
        means[start:stop] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    return means


def _percentile_ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(low), float(high)


def cluster_bootstrap_mae_ci(y_true: Any, y_pred: Any, groups: Any, n_bootstrap: int, seed: int,
                             level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the MAE, resampling whole artists (`groups`, one label per row); NaN with < 2 artists."""
    errors = np.abs(np.asarray(y_true, float).ravel() - np.asarray(y_pred, float).ravel())
    codes = _groups(groups, len(errors))
    if len(np.unique(codes)) < 2:
        return float("nan"), float("nan")
    return _percentile_ci(cluster_bootstrap_means(errors, codes, n_bootstrap, seed), level)


def paired_mae_difference(y_true: Any, pred_a: Any, pred_b: Any, groups: Any, n_bootstrap: int, seed: int,
                          level: float = 0.95) -> dict[str, float | int | bool]:
    """MAE(a) − MAE(b) on the same rows, with a paired artist-cluster bootstrap CI (target units).

    Per row d = |y − a| − |y − b|; the difference is mean(d) and each draw resamples whole artists of d, so
    both models always see the same tracks. Rows where either prediction is not finite (or y is NaN) are left
    out and counted in `n_dropped`. `established` is False when the interval holds zero (or cannot be
    estimated): the data then do not show which model is better. Negative means `a` is better.
    Returns diff, ci_low, ci_high, n, n_artists, n_dropped, established."""
    t = np.asarray(y_true, float).ravel()
    a = np.asarray(pred_a, float).ravel()
    b = np.asarray(pred_b, float).ravel()
    if not t.shape == a.shape == b.shape:
        raise ValueError(f"y_true, pred_a and pred_b have {t.size}, {a.size} and {b.size} values; align them")
    codes = _groups(groups, len(t))
    ok = np.isfinite(t) & np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        raise ValueError("no row where both models predicted a labelled track")
    d = np.abs(t[ok] - a[ok]) - np.abs(t[ok] - b[ok])
    k = len(np.unique(codes[ok]))
    low, high = (float("nan"), float("nan")) if k < 2 else _percentile_ci(
        cluster_bootstrap_means(d, codes[ok], n_bootstrap, seed), level)
    established = bool(np.isfinite(low) and (low > 0 or high < 0))
    return {"diff": float(d.mean()), "ci_low": low, "ci_high": high, "n": int(ok.sum()), "n_artists": k,
            "n_dropped": int((~ok).sum()), "established": established}


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho as the Pearson correlation of average ranks (ties share their mean rank)."""
    ra = pd.Series(a).rank(method="average").to_numpy()
    rb = pd.Series(b).rank(method="average").to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def within_artist_spearman(y_true: Any, y_pred: Any, groups: Any, n_bootstrap: int, seed: int,
                           level: float = 0.95) -> dict[str, float | int]:
    """Mean over artists of the Spearman correlation inside each artist, with its artist-cluster bootstrap CI
    (module docs: which artists enter, constant predictions scoring 0). Inputs are aligned 1-D arrays of
    finite values (`groups`: one artist per row). Returns within_artist_spearman, within_artist_spearman_ci_low,
    within_artist_spearman_ci_high (NaN with fewer than 2 artists; all NaN with none) and
    within_artist_n_artists."""
    t = np.asarray(y_true, float).ravel()
    p = np.asarray(y_pred, float).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}; predict one value per row")
    codes = _groups(groups, t.size)
    rhos = []
    for code in np.unique(codes):
        mine = codes == code
        if mine.sum() < WITHIN_ARTIST_MIN_TRACKS or np.ptp(t[mine]) == 0:
            continue
        rhos.append(0.0 if np.ptp(p[mine]) == 0 else _rank_correlation(t[mine], p[mine]))
    values = np.asarray(rhos, float)
    low = high = mean = float("nan")
    if len(values):
        mean = float(values.mean())
    if len(values) >= 2:  # one row per artist: the cluster bootstrap draws artists
        low, high = _percentile_ci(cluster_bootstrap_means(values, np.arange(len(values)), n_bootstrap, seed), level)
    return {"within_artist_spearman": mean, "within_artist_spearman_ci_low": low,
            "within_artist_spearman_ci_high": high, "within_artist_n_artists": len(values)}


def prediction_spread_ratio(y_true: Any, y_pred: Any) -> float:
    """std(predictions) / std(labels) (population std) over the rows with a finite prediction; NaN when there is
    none or the labels there are all equal. Near 0: the model predicts about one value for everything."""
    t, p = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    ok = np.isfinite(p) & np.isfinite(t)
    spread = float(np.std(t[ok])) if ok.any() else 0.0
    return float(np.std(p[ok]) / spread) if spread > 0 else float("nan")


def is_collapsed(ratio: float, threshold: float) -> bool:
    """The collapse flag every stage reports: the spread ratio is undefined or at or below `threshold`
    (params `collapse_std_ratio`). Collapse onto the mean is the known failure of LM regressors."""
    return bool(not np.isfinite(ratio) or ratio <= threshold)


def regression_report(y_true: Any, y_pred: Any, n_bootstrap: int, seed: int,
                      count_failures: bool = False, *, groups: Any) -> dict[str, float | int]:
    """MAE, RMSE, Spearman and a 95% CI of the MAE by artist-cluster bootstrap over the scorable pairs, and the
    within-artist Spearman with its CI (`within_artist_spearman`).

    `groups` holds each row's artist (aligned with y_true); `n_artists` counts the artists scored."""
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}; predict one value per row")
    codes = _groups(groups, t.size)
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
    t, p, codes = t[ok], p[ok], codes[ok]
    rho, p_value = spearman(t, p)
    low, high = cluster_bootstrap_mae_ci(t, p, codes, n_bootstrap, seed)
    return {
        "n": n,
        "n_artists": len(np.unique(codes)),
        "n_unlabelled": int((~labelled).sum()),
        "n_failed": n_failed,
        "failure_rate": n_failed / int(labelled.sum()),
        "mae": mae(t, p),
        "rmse": rmse(t, p),
        "spearman": rho,
        "spearman_p": p_value,
        "mae_ci_low": low,
        "mae_ci_high": high,
        **within_artist_spearman(t, p, codes, n_bootstrap, seed),
    }
