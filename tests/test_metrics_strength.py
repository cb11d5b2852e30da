"""Metric behaviours the other metric tests leave open (issue 16): the interval level, bounds (one draw, one pair,
a label range of exactly 1), reproducibility per seed and independence of row order, missing values as a
database hands them over (None, pd.NA), and the messages of each refusal. Oracles: scipy, the definition of a
percentile interval, exact bootstrap distributions worked out by hand, and the normal approximation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rap_analyzer.models.metrics import (
    bootstrap_mae_ci,
    cluster_bootstrap_mae_ci,
    cluster_bootstrap_means,
    paired_mae_difference,
    prediction_spread_ratio,
    regression_report,
    spearman,
    within_artist_spearman,
)


def clustered(n_artists: int = 9, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 8, n_artists)
    g = [f"artist {a}" for a, size in enumerate(sizes) for _ in range(size)]
    y = rng.uniform(0, 10, len(g))
    p = y + rng.normal(0, 2, len(g)) + np.repeat(rng.normal(0, 2, n_artists), sizes)
    return y, p, g


# --- the interval level --------------------------------------------------------------------------------------------

def test_cluster_ci_is_the_2_5_and_97_5_percentiles_of_its_draws() -> None:
    # The percentile interval by definition: the (1 - level) / 2 and 1 - (1 - level) / 2 quantiles of the draws.
    y, p, g = clustered()
    draws = cluster_bootstrap_means(np.abs(y - p), g, n_bootstrap=4000, seed=7)
    assert cluster_bootstrap_mae_ci(y, p, g, n_bootstrap=4000, seed=7) == pytest.approx(
        tuple(np.quantile(draws, [0.025, 0.975])), rel=1e-12)
    assert cluster_bootstrap_mae_ci(y, p, g, 4000, 7, level=0.8) == pytest.approx(
        tuple(np.quantile(draws, [0.1, 0.9])), rel=1e-12)


def test_track_ci_has_the_normal_approximations_width() -> None:
    # 3000 independent errors: the MAE's sampling distribution is close to normal, so the 95% percentile interval
    # is about mean ± 1.96 · sd / sqrt(n) (a 90% one would be 16% narrower, a 96.7% one 9% wider).
    errors = np.random.default_rng(1).exponential(2.0, 3000)
    low, high = bootstrap_mae_ci(errors, np.zeros_like(errors), n_bootstrap=4000, seed=2)
    normal_half_width = stats.norm.ppf(0.975) * errors.std() / np.sqrt(len(errors))
    assert (high - low) / 2 == pytest.approx(normal_half_width, rel=0.04)
    assert (low + high) / 2 == pytest.approx(errors.mean(), abs=0.1 * normal_half_width)


def test_track_bootstrap_draws_every_track() -> None:
    # Errors 1 and 0: a draw of two tracks averages 0 (p = 1/4), 0.5 (1/2) or 1 (1/4), so the 95% interval is
    # exactly [0, 1]; a resampler that never drew the first track would say [0, 0].
    assert bootstrap_mae_ci([1.0, 0.0], [0.0, 0.0], n_bootstrap=4000, seed=0) == (0.0, 1.0)


# --- bounds ---------------------------------------------------------------------------------------------------------

def test_one_draw_is_enough_and_zero_is_refused() -> None:
    # Constant errors: every draw, the only one included, is that constant.
    assert bootstrap_mae_ci([3.0, 5.0], [1.0, 3.0], n_bootstrap=1, seed=0) == (2.0, 2.0)
    assert list(cluster_bootstrap_means([2.0, 2.0, 2.0], ["a", "b", "b"], n_bootstrap=1, seed=0)) == [2.0]
    with pytest.raises(ValueError, match="n_bootstrap must be positive, got 0"):
        bootstrap_mae_ci([1.0], [0.0], n_bootstrap=0, seed=0)
    with pytest.raises(ValueError, match="n_bootstrap must be positive, got 0"):
        cluster_bootstrap_means([1.0], ["a"], n_bootstrap=0, seed=0)


def test_one_cluster_resamples_to_its_own_mean_and_no_cluster_is_an_error() -> None:
    assert set(cluster_bootstrap_means([1.0, 2.0], ["a", "a"], n_bootstrap=50, seed=0)) == {1.5}
    with pytest.raises(ValueError, match=r"^no rows to resample$"):
        cluster_bootstrap_means([], [], n_bootstrap=10, seed=0)


def test_one_scored_pair_is_reported() -> None:
    report = regression_report([4.0, np.nan], [1.0, 2.0], n_bootstrap=10, seed=0, groups=["a", "b"])
    assert report["n"] == 1 and report["mae"] == 3.0 and report["rmse"] == 3.0
    with pytest.raises(ValueError, match=r"^no pair with both a label and a prediction to score$"):
        regression_report([np.nan, np.nan], [1.0, 2.0], n_bootstrap=10, seed=0, groups=["a", "b"])


@pytest.mark.parametrize(("y", "p"), [
    ([1.0, 2.0], [3.0, 5.0]),                # two points: defined, +1
    ([0.0, 0.5, 1.0, 0.2], [3.0, 1.0, 2.0, 5.0]),  # labels spanning exactly 1
    ([3.0, 1.0, 2.0, 5.0], [0.0, 0.5, 1.0, 0.2]),  # predictions spanning exactly 1
])
def test_spearman_equals_scipy_down_to_two_points_and_any_range(y: list[float], p: list[float]) -> None:
    rho, p_value = spearman(np.array(y), np.array(p))
    expected = stats.spearmanr(y, p)
    assert rho == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue, nan_ok=True)


def test_report_carries_spearmans_p_value() -> None:
    y, p, g = clustered()
    assert regression_report(y, p, 10, 0, groups=g)["spearman_p"] == pytest.approx(stats.spearmanr(y, p).pvalue)


def test_spread_ratio_of_labels_spanning_less_than_one() -> None:
    y, p = np.array([0.0, 0.5, 1.0]), np.array([0.2, 0.3, 0.4])
    assert prediction_spread_ratio(y, p) == pytest.approx(np.std(p) / np.std(y))
    assert np.isnan(prediction_spread_ratio(y, [np.nan] * 3))  # no finite prediction: undefined


def test_paired_difference_of_one_artist_has_no_interval_and_is_not_established() -> None:
    result = paired_mae_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], ["a"] * 3,
                                   n_bootstrap=100, seed=0)
    assert result["diff"] == -1.0 and np.isnan(result["ci_low"]) and np.isnan(result["ci_high"])
    assert result["established"] is False


def test_a_small_established_loss_is_established() -> None:
    # Model a is worse by 0.5 on every track of four artists: every draw is +0.5, an interval [0.5, 0.5] above 0.
    y = np.arange(8, dtype=float)
    result = paired_mae_difference(y, y + 0.5, y, list("aabbccdd"), n_bootstrap=200, seed=0)
    assert (result["ci_low"], result["ci_high"]) == (0.5, 0.5) and result["established"] is True


# --- reproducibility ---------------------------------------------------------------------------------------------

def all_intervals(y: np.ndarray, p: np.ndarray, other: np.ndarray, g: list[str], seed: int) -> list[float]:
    report = regression_report(y, p, 300, seed, groups=g)
    paired = paired_mae_difference(y, p, other, g, 300, seed)
    return [report["mae_ci_low"], report["mae_ci_high"], report["within_artist_spearman_ci_low"],
            report["within_artist_spearman_ci_high"], paired["ci_low"], paired["ci_high"],
            *cluster_bootstrap_mae_ci(y, p, g, 300, seed)]


def test_intervals_repeat_per_seed_and_ignore_row_order() -> None:
    # Artists are resampled by name, so rows listed in another order give the very same intervals.
    y, p, g = clustered()
    other = p[::-1].copy()
    first = all_intervals(y, p, other, g, seed=4)
    assert all_intervals(y, p, other, g, seed=4) == first
    order = np.random.default_rng(5).permutation(len(y))
    assert all_intervals(y[order], p[order], other[order], [g[i] for i in order], seed=4) == pytest.approx(
        first, rel=1e-12)
    assert all_intervals(y, p, other, g, seed=5) != first


def test_chunking_does_not_change_the_cluster_draws() -> None:
    y, p, g = clustered()
    errors = np.abs(y - p)
    assert np.array_equal(cluster_bootstrap_means(errors, g, 450, seed=3, chunk=7),
                          cluster_bootstrap_means(errors, g, 450, seed=3))


# --- missing values as a database hands them over -----------------------------------------------------------------

def test_missing_labels_and_predictions_given_as_none_or_na_are_nan() -> None:
    y, p, g = clustered()
    y_nan, p_nan = y.copy(), p.copy()
    y_nan[0], p_nan[1] = np.nan, np.nan
    expected = regression_report(y_nan, p_nan, 100, 0, count_failures=True, groups=g)
    labels = pd.Series(y_nan, dtype="Float64")  # a nullable column: the missing label is pd.NA
    predictions = [None if np.isnan(v) else float(v) for v in p_nan]
    report = regression_report(labels, predictions, 100, 0, count_failures=True, groups=g)
    assert report == pytest.approx(expected, nan_ok=True)
    assert report["n_unlabelled"] == 1 and report["n_failed"] == 1
    other = p[::-1].copy()
    other[2] = np.nan
    paired = paired_mae_difference(labels, predictions, [None if np.isnan(v) else float(v) for v in other], g,
                                   100, 0)
    assert paired == pytest.approx(paired_mae_difference(y_nan, p_nan, other, g, 100, 0), nan_ok=True)
    assert paired["n_dropped"] == 3
    assert prediction_spread_ratio(labels, predictions) == pytest.approx(prediction_spread_ratio(y_nan, p_nan))


def test_an_artist_given_as_nan_is_missing() -> None:
    with pytest.raises(ValueError, match="1 rows have no artist"):
        cluster_bootstrap_mae_ci([1.0, 2.0, 3.0], [0.0] * 3, ["a", "b", float("nan")], n_bootstrap=10, seed=0)


# --- messages ----------------------------------------------------------------------------------------------------

def test_each_refusal_says_what_was_wrong_and_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"2 of 2 predictions are NaN/inf; fix the model or pass "
                                         r"count_failures=True to score them as failures"):
        regression_report([1.0, 2.0], [np.nan, np.inf], 10, 0, groups=["a", "b"])
    with pytest.raises(ValueError, match="y_true, pred_a and pred_b have 2, 1 and 2 values; align them"):
        paired_mae_difference([1.0, 2.0], [1.0], [1.0, 2.0], ["a", "b"], 10, 0)
    with pytest.raises(ValueError, match=r"^no row where both models predicted a labelled track$"):
        paired_mae_difference([1.0, 2.0], [np.nan, 1.0], [1.0, np.nan], ["a", "b"], 10, 0)
    with pytest.raises(ValueError, match="y_true has 2 values but y_pred has 1; predict one value per row"):
        within_artist_spearman([1.0, 2.0], [1.0], ["a", "b"], 10, 0)
