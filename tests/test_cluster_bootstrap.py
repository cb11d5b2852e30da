"""The artist-cluster bootstrap: whole artists are resampled (never single tracks), the paired difference matches
a hand computation, and an interval holding zero is reported as not established."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rap_analyzer.models.metrics import (
    bootstrap_mae_ci,
    cluster_bootstrap_mae_ci,
    cluster_bootstrap_means,
    paired_mae_difference,
    regression_report,
)


def two_artists() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Artist A: 20 tracks each off by 1; artist B: 20 tracks each off by 10."""
    y = np.arange(40, dtype=float)
    error = np.r_[np.full(20, 1.0), np.full(20, 10.0)]
    return y, y + error, np.repeat(["A", "B"], 20)


def test_draws_are_means_over_whole_artists() -> None:
    y, pred, artists = two_artists()
    draws = cluster_bootstrap_means(np.abs(y - pred), artists, n_bootstrap=2000, seed=0)
    # Drawing artists (A,A), (A,B)/(B,A) or (B,B) gives MAE 1, 5.5 or 10 and nothing else; a track
    # bootstrap would give almost any value in between.
    assert set(np.round(draws, 10)) == {1.0, 5.5, 10.0}
    # (A,B) in either order has probability 1/2
    assert np.mean(np.isclose(draws, 5.5)) == pytest.approx(0.5, abs=0.04)
    low, high = cluster_bootstrap_mae_ci(y, pred, artists, n_bootstrap=2000, seed=0)
    assert (low, high) == (1.0, 10.0)
    track_low, track_high = bootstrap_mae_ci(y, pred, n_bootstrap=2000, seed=0)
    assert 1.0 < track_low < 5.5 < track_high < 10.0  # the track bootstrap is far narrower here


def test_unequal_artists_weigh_by_their_tracks() -> None:
    # A: 1 track, error 2; B: 3 tracks, errors 4: draws are 2 (A,A), (2+12)/4 = 3.5 (A,B) or 4 (B,B)
    errors = np.array([2.0, 4.0, 4.0, 4.0])
    draws = cluster_bootstrap_means(errors, ["A", "B", "B", "B"], n_bootstrap=500, seed=1)
    assert set(np.round(draws, 10)) == {2.0, 3.5, 4.0}


def test_paired_difference_matches_hand_computation() -> None:
    # Three artists, model a vs model b; per track d = |y - a| - |y - b|
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    a = np.array([11.0, 22.0, 30.0, 45.0, 50.0])  # |e_a| = 1, 2, 0, 5, 0
    b = np.array([12.0, 20.0, 33.0, 41.0, 52.0])  # |e_b| = 2, 0, 3, 1, 2
    artists = ["X", "X", "Y", "Z", "Z"]
    # d = -1, 2, -3, 4, -2: per artist sums X = 1 (2 tracks), Y = -3 (1), Z = 2 (2)
    result = paired_mae_difference(y, a, b, artists, n_bootstrap=20_000, seed=3)
    assert result["diff"] == pytest.approx(0.0 / 5)  # (-1 + 2 - 3 + 4 - 2) / 5
    assert result["n"] == 5 and result["n_artists"] == 3 and result["n_dropped"] == 0
    # Exact bootstrap distribution: all 27 equally likely ordered draws of three artists. Its extremes are
    # YYY = -9/3 = -3 and ZZZ = 6/6 = 1, each with probability 1/27 > 2.5%, so the 95% percentile interval
    # is exactly [-3, 1]; the inverse CDF over the 27 draws says the same.
    sums, counts = {"X": 1.0, "Y": -3.0, "Z": 2.0}, {"X": 2, "Y": 1, "Z": 2}
    exact = np.sort([sum(sums[k] for k in draw) / sum(counts[k] for k in draw)
                     for draw in itertools.product("XYZ", repeat=3)])
    cdf = np.arange(1, 28) / 27
    assert (exact[np.argmax(cdf >= 0.025)], exact[np.argmax(cdf >= 0.975)]) == (-3.0, 1.0)
    assert (result["ci_low"], result["ci_high"]) == (-3.0, 1.0)
    assert result["established"] is False  # the interval holds zero


def test_identical_errors_are_not_established_and_a_clear_win_is() -> None:
    y, pred, artists = two_artists()
    same = paired_mae_difference(y, pred, pred.copy(), artists, n_bootstrap=500, seed=0)
    assert same["diff"] == 0.0 and same["ci_low"] == 0.0 and same["ci_high"] == 0.0
    assert same["established"] is False
    better = y + 0.5  # every track better by at least 0.5
    win = paired_mae_difference(y, better, pred, artists, n_bootstrap=500, seed=0)
    assert win["established"] is True and win["ci_high"] < 0


def test_nan_predictions_are_dropped_from_the_pair_and_counted() -> None:
    y, pred, artists = two_artists()
    broken = pred.copy()
    broken[:3] = np.nan
    result = paired_mae_difference(y, broken, pred, artists, n_bootstrap=200, seed=0)
    assert result["n"] == 37 and result["n_dropped"] == 3


def test_one_artist_has_no_interval() -> None:
    report = regression_report([1.0, 2.0, 3.0], [1.5, 2.5, 2.0], n_bootstrap=100, seed=0, groups=["A"] * 3)
    assert report["n_artists"] == 1 and np.isnan(report["mae_ci_low"]) and np.isnan(report["mae_ci_high"])


def test_every_row_needs_an_artist() -> None:
    with pytest.raises(ValueError, match="no artist"):
        regression_report([1.0, 2.0], [1.0, 2.0], n_bootstrap=10, seed=0, groups=["A", None])
    with pytest.raises(ValueError, match="one artist per row"):
        regression_report([1.0, 2.0], [1.0, 2.0], n_bootstrap=10, seed=0, groups=["A"])
