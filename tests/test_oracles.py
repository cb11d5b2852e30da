"""Metrics against independent oracles: sklearn and scipy for the point metrics, and a cluster percentile bootstrap
written out here from its definition (draw k artists with replacement, MAE over all their tracks, percentiles) for
the interval. A 90% interval labelled 95%, a CI over tracks instead of artists, or a NaN prediction on an
unlabelled row counted as a failure must fail here."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import mean_absolute_error, mean_squared_error

from rap_analyzer.models.metrics import regression_report


def data(n_artists: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Artists of 2..9 tracks with an artist-level error offset, so artist and track resampling differ."""
    rng = np.random.default_rng(seed)
    t, p, g = [], [], []
    for a in range(n_artists):
        offset = rng.normal(0, 8)
        for _ in range(int(rng.integers(2, 10))):
            y = rng.uniform(0, 100)
            t.append(y)
            p.append(y + offset + rng.normal(0, 3))
            g.append(f"artist {a}")
    return np.array(t), np.array(p), np.array(g, dtype=object)


def reference_cluster_ci(t: np.ndarray, p: np.ndarray, g: np.ndarray, n: int, level: float,
                         seed: int = 12345) -> tuple[float, float]:
    """The definition, independently: k artists drawn with replacement, MAE over all their tracks."""
    rng = random.Random(seed)
    artists = sorted(set(g))
    rows = {a: [abs(t[i] - p[i]) for i in range(len(t)) if g[i] == a] for a in artists}
    draws = []
    for _ in range(n):
        errors = [e for a in rng.choices(artists, k=len(artists)) for e in rows[a]]
        draws.append(sum(errors) / len(errors))
    draws.sort()
    alpha = (1 - level) / 2
    return float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))


def test_point_metrics_agree_with_sklearn_and_scipy() -> None:
    t, p, g = data()
    report = regression_report(t, p, n_bootstrap=50, seed=0, groups=g)
    assert report["mae"] == pytest.approx(mean_absolute_error(t, p))
    assert report["rmse"] == pytest.approx(np.sqrt(mean_squared_error(t, p)))
    assert report["spearman"] == pytest.approx(stats.spearmanr(t, p).statistic)
    assert report["n"] == len(t) and report["n_artists"] == 12


def test_mae_ci_agrees_with_an_independent_cluster_percentile_bootstrap() -> None:
    t, p, g = data()
    report = regression_report(t, p, n_bootstrap=4000, seed=1, groups=g)
    low, high = reference_cluster_ci(t, p, g, 4000, 0.95)
    width = high - low
    # Monte Carlo error of a 2.5% quantile over 4000 draws is ~3% of the width; a 90% interval sits ~15% inside.
    assert report["mae_ci_low"] == pytest.approx(low, abs=0.06 * width)
    assert report["mae_ci_high"] == pytest.approx(high, abs=0.06 * width)
    low90, high90 = reference_cluster_ci(t, p, g, 4000, 0.90)
    assert (low - low90) < -0.06 * width or (high90 - high) < -0.06 * width  # the test can tell 90% from 95%


def test_a_nan_prediction_on_an_unlabelled_row_is_not_a_failure() -> None:
    # The row has no label: whatever the model said there is not scored, so it is neither an error nor a failure.
    t, p, g = data()
    t2, p2 = np.append(t, np.nan), np.append(p, np.nan)
    report = regression_report(t2, p2, n_bootstrap=50, seed=0, groups=np.append(g, "artist 0"))
    assert report["n_failed"] == 0 and report["failure_rate"] == 0.0
    assert report["n_unlabelled"] == 1 and report["n"] == len(t)
    assert report["mae"] == pytest.approx(mean_absolute_error(t, p))


def test_a_nan_prediction_on_a_labelled_row_is_a_failure() -> None:
    t, p, g = data()
    p2 = p.copy()
    p2[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        regression_report(t, p2, n_bootstrap=50, seed=0, groups=g)
    report = regression_report(t, p2, n_bootstrap=50, seed=0, groups=g, count_failures=True)
    assert report["n_failed"] == 1 and report["failure_rate"] == pytest.approx(1 / len(t))
    assert report["mae"] == pytest.approx(mean_absolute_error(t[1:], p[1:]))
