"""Regression metrics against scikit-learn / scipy, NaN handling and the bootstrap CI."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error, mean_squared_error

from rap_analyzer.models.metrics import bootstrap_mae_ci, regression_report

ARTISTS = np.repeat([f"artist {i}" for i in range(15)], 20)  # 15 artists × 20 tracks, as in the eval split


@pytest.fixture
def pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 10, 300)
    return y, y + rng.normal(0, 1.5, 300)


def test_report_matches_sklearn_and_scipy(pairs) -> None:
    y, p = pairs
    report = regression_report(y, p, n_bootstrap=500, seed=1, groups=ARTISTS)
    assert report["n"] == 300 and report["n_failed"] == 0
    assert report["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert report["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, p)))
    assert report["spearman"] == pytest.approx(spearmanr(y, p).statistic)
    assert report["mae_ci_low"] < report["mae"] < report["mae_ci_high"]


def test_bootstrap_is_deterministic_per_seed(pairs) -> None:
    y, p = pairs
    assert bootstrap_mae_ci(y, p, 300, seed=5) == bootstrap_mae_ci(y, p, 300, seed=5)
    assert bootstrap_mae_ci(y, p, 300, seed=5) != bootstrap_mae_ci(y, p, 300, seed=6)
    # chunking must not change the draws' meaning: same seed, different chunk -> same CI
    assert bootstrap_mae_ci(y, p, 300, seed=5, chunk=7) == bootstrap_mae_ci(y, p, 300, seed=5)


def test_unlabelled_pairs_are_ignored(pairs) -> None:
    y, p = pairs
    y_nan = y.copy()
    y_nan[:10] = np.nan
    report = regression_report(y_nan, p, n_bootstrap=100, seed=0, groups=ARTISTS)
    assert report["n"] == 290 and report["n_unlabelled"] == 10
    assert report["mae"] == pytest.approx(mean_absolute_error(y[10:], p[10:]))


def test_nan_predictions_refused_unless_counted(pairs) -> None:
    y, p = pairs
    p_nan = p.copy()
    p_nan[:30] = np.nan
    with pytest.raises(ValueError, match="30 of 300 predictions"):
        regression_report(y, p_nan, n_bootstrap=100, seed=0, groups=ARTISTS)
    report = regression_report(y, p_nan, n_bootstrap=100, seed=0, count_failures=True, groups=ARTISTS)
    assert report["n_failed"] == 30 and report["failure_rate"] == pytest.approx(0.1)
    assert report["mae"] == pytest.approx(mean_absolute_error(y[30:], p[30:]))


def test_constant_prediction_has_undefined_spearman(pairs) -> None:
    y, _ = pairs
    report = regression_report(y, np.full_like(y, 5.0), n_bootstrap=100, seed=0, groups=ARTISTS)
    assert np.isnan(report["spearman"])
    assert report["mae"] == pytest.approx(mean_absolute_error(y, np.full_like(y, 5.0)))


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="one value per row"):
        regression_report([1.0, 2.0], [1.0], n_bootstrap=10, seed=0, groups=["a", "b"])


def test_cluster_bootstrap_groups_artists_like_the_split() -> None:
    from rap_analyzer.models.metrics import cluster_bootstrap_mae_ci

    # "JAY-Z", "Jay-Z " and "jay-z" are one artist for the artist-disjoint split, so one cluster: with a single
    # cluster there is no between-artist spread to resample and the CI is undefined (NaN), by definition.
    y, p = [1.0, 2.0, 4.0], [0.0, 0.0, 0.0]
    low, high = cluster_bootstrap_mae_ci(y, p, ["JAY-Z", "Jay-Z ", "jay-z"], n_bootstrap=200, seed=0)
    assert np.isnan(low) and np.isnan(high)
    # Two real artists: each draw's row-weighted mean lies between the artists' own MAEs (1.5 and 4.0).
    low, high = cluster_bootstrap_mae_ci(y, p, ["JAY-Z", "Jay-Z", "Nas"], n_bootstrap=200, seed=0)
    assert 1.5 - 1e-9 <= low <= high <= 4.0 + 1e-9


def test_collapse_flag_at_the_bound() -> None:
    from rap_analyzer.models.metrics import is_collapsed, prediction_spread_ratio

    y = np.array([0.0, 2.0, 4.0, 6.0])              # population std sqrt(5)
    p = np.array([1.0, 1.2, np.nan, 1.6])           # the NaN row is left out of both spreads
    expected = np.std([1.0, 1.2, 1.6]) / np.std([0.0, 2.0, 6.0])
    assert prediction_spread_ratio(y, p) == pytest.approx(expected, rel=1e-12)
    assert np.isnan(prediction_spread_ratio([3.0, 3.0], [1.0, 2.0]))  # constant labels: undefined
    assert is_collapsed(0.1, 0.1) and is_collapsed(0.0999, 0.1) and not is_collapsed(0.1001, 0.1)
    assert is_collapsed(float("nan"), 0.1)
