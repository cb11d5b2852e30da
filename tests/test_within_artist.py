"""Issue 13: `popularity_within_artist` (the label) and the within-artist Spearman (the metric reported for every
model), each against a hand computation or scipy, never against the function under test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import params_with
from scipy import stats

from rap_analyzer.dataset.labels import popularity_within_artist
from rap_analyzer.errors import ConfigError
from rap_analyzer.models.baselines import MeanBaseline
from rap_analyzer.models.metrics import regression_report, within_artist_spearman
from rap_analyzer.models.result import ModelResult
from rap_analyzer.tracking.comparison import compare_on_subset, write_comparison
from rap_analyzer.tracking.leaderboard import write_leaderboard

# --- the label ------------------------------------------------------------------------------------------------------

# Artist A (written two ways: the split groups by casefold) has 4 labelled songs with a tie, B exactly 3 (the
# minimum used below) plus an unlabelled and a zero-view song, C only 2.
TABLE = pd.DataFrame({
    "artist": ["A", "A", "a ", "A", "B", "B", "B", "B", "B", "C", "C"],
    "pageviews": [10, 100, 100, 1000, 1e6, 10, 1000, None, 0, 7, 70],
})
# By hand. A: log10 = 1, 2, 2, 3 -> average ranks 1, 2.5, 2.5, 4 -> (r - 1) / 3 = 0, .5, .5, 1 -> 1, 5.5, 5.5, 10.
# B: log10 = 6, 1, 3 -> ranks 3, 1, 2 -> (r - 1) / 2 = 1, 0, .5 -> 10, 1, 5.5; no pageviews / 0 pageviews: NaN.
# C: 2 labelled songs < 3: NaN, one artist and two tracks counted.
EXPECTED = [1.0, 5.5, 5.5, 10.0, 10.0, 1.0, 5.5, np.nan, np.nan, np.nan, np.nan]


def test_label_matches_the_hand_computation() -> None:
    labels, counts = popularity_within_artist(TABLE["pageviews"], TABLE["artist"], min_songs=3)
    np.testing.assert_allclose(labels.to_numpy(), EXPECTED)
    assert counts == {"within_artist_artists_below_min": 1, "within_artist_tracks_below_min": 2}
    assert labels.name == "popularity_within_artist"


def test_minimum_is_inclusive_and_at_least_two() -> None:
    # min_songs = 4: B's 3 labelled songs fall below too (and A, with exactly 4, stays).
    labels, counts = popularity_within_artist(TABLE["pageviews"], TABLE["artist"], min_songs=4)
    np.testing.assert_allclose(labels.to_numpy(), EXPECTED[:4] + [np.nan] * 7)
    assert counts == {"within_artist_artists_below_min": 2, "within_artist_tracks_below_min": 5}
    # min_songs = 2: C's two songs are ranked, 7 < 70 -> 1 and 10.
    labels, _ = popularity_within_artist(TABLE["pageviews"], TABLE["artist"], min_songs=2)
    assert labels.iloc[-2:].tolist() == [1.0, 10.0]
    with pytest.raises(ValueError, match="at least 2"):
        popularity_within_artist(TABLE["pageviews"], TABLE["artist"], min_songs=1)
    unlabelled, counts = popularity_within_artist(TABLE["pageviews"] * np.nan, TABLE["artist"], min_songs=2)
    assert unlabelled.isna().all() and counts == {"within_artist_artists_below_min": 0,
                                                  "within_artist_tracks_below_min": 0}
    assert params_with({"prepare": {"within_artist_min_songs": 2}}).prepare.within_artist_min_songs == 2
    with pytest.raises(ConfigError, match="within_artist_min_songs"):
        params_with({"prepare": {"within_artist_min_songs": 1}})


def test_label_ignores_other_artists() -> None:
    """A song's label depends on its own artist's songs only: moving B's views leaves A's labels unchanged."""
    other = TABLE.assign(pageviews=np.where(TABLE["artist"] == "B", [3.0] * len(TABLE), TABLE["pageviews"]))
    labels, _ = popularity_within_artist(other["pageviews"], other["artist"], min_songs=3)
    np.testing.assert_allclose(labels.to_numpy()[:4], EXPECTED[:4])
    np.testing.assert_allclose(labels.to_numpy()[4:7], [5.5, 5.5, 5.5])  # all tied: the middle


def corpus(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(25):
        for _ in range(int(rng.integers(5, 31))):
            rows.append({"artist": f"Artist {a}", "pageviews": float(rng.integers(1, 10**7))})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_range_and_per_artist_uniformity() -> None:
    """Without ties each artist's labels are exactly 1, 1 + 9/(n-1), ..., 10 (uniform over its songs); with ties
    the ranks are averaged, which keeps each artist's mean at 5.5, so the mean predictor is 5.5 too."""
    frame = corpus()
    labels, counts = popularity_within_artist(frame["pageviews"], frame["artist"], min_songs=5)
    assert counts == {"within_artist_artists_below_min": 0, "within_artist_tracks_below_min": 0}
    assert labels.notna().all() and labels.min() == 1.0 and labels.max() == 10.0
    for artist, group in labels.groupby(frame["artist"]):
        n = len(group)
        if frame.loc[group.index, "pageviews"].nunique() == n:
            np.testing.assert_allclose(np.sort(group.to_numpy()), np.linspace(1.0, 10.0, n), err_msg=artist)
        assert group.mean() == pytest.approx(5.5)
        # The label orders an artist's songs exactly as their pageviews do.
        rho = stats.spearmanr(group.to_numpy(), frame.loc[group.index, "pageviews"].to_numpy()).statistic
        assert rho == pytest.approx(1.0)
    tied = frame.assign(pageviews=(frame["pageviews"] // 2_000_000 + 1) * 1000.0)  # about 5 values: many ties
    tied_labels, _ = popularity_within_artist(tied["pageviews"], tied["artist"], min_songs=5)
    assert tied_labels.between(1.0, 10.0).all()
    np.testing.assert_allclose(tied_labels.groupby(tied["artist"]).mean().to_numpy(), 5.5)
    mean = MeanBaseline("popularity_within_artist").fit(tied.assign(popularity_within_artist=tied_labels))
    assert mean.mean == pytest.approx(5.5)


# --- the metric -----------------------------------------------------------------------------------------------------

# X: ranks differ by d = 0, 1, 1, 0 -> rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.  Y: reversed -> -1.
# Z: one prediction for every song -> ranks nothing -> 0.  W: 2 tracks, V: all labels equal -> left out.
CASE = pd.DataFrame({
    "artist": ["X"] * 4 + ["Y"] * 3 + ["Z"] * 3 + ["W"] * 2 + ["V"] * 3,
    "y_true": [1, 2, 3, 4, 1, 2, 3, 1, 2, 3, 1, 2, 2, 2, 2],
    "y_pred": [1, 3, 2, 4, 3, 2, 1, 5, 5, 5, 1, 2, 1, 2, 3],
}, dtype=object).astype({"y_true": float, "y_pred": float})


def test_within_artist_spearman_by_hand_and_scipy() -> None:
    out = within_artist_spearman(CASE["y_true"], CASE["y_pred"], CASE["artist"], n_bootstrap=200, seed=0)
    assert out["within_artist_n_artists"] == 3
    assert out["within_artist_spearman"] == pytest.approx((0.8 - 1.0 + 0.0) / 3)
    x = CASE[CASE["artist"] == "X"]
    assert stats.spearmanr(x["y_true"], x["y_pred"]).statistic == pytest.approx(0.8)  # the hand value, by scipy


def test_within_artist_spearman_with_ties_equals_scipy() -> None:
    rng = np.random.default_rng(4)
    artists = np.repeat([f"artist {i}" for i in range(6)], 9)
    y = rng.integers(1, 5, len(artists)).astype(float)  # 4 values over 9 songs: ties in the labels
    p = np.round(y + rng.normal(0, 1.5, len(artists)))  # and in the predictions
    expected = np.mean([stats.spearmanr(y[artists == a], p[artists == a]).statistic for a in np.unique(artists)])
    out = within_artist_spearman(y, p, artists, n_bootstrap=200, seed=0)
    assert out["within_artist_n_artists"] == 6
    assert out["within_artist_spearman"] == pytest.approx(expected)
    assert out["within_artist_spearman_ci_low"] <= expected <= out["within_artist_spearman_ci_high"]


def test_artist_bootstrap_ci_of_two_artists() -> None:
    """Two artists with rho 1 and -1: a draw of two artists averages to 1 (p 1/4), 0 (1/2) or -1 (1/4), so the
    95% percentile interval spans -1 to 1; with 0.5 and 0.5 every draw is 0.5."""
    y = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    groups = ["A"] * 3 + ["B"] * 3
    out = within_artist_spearman(y, [1.0, 2.0, 3.0, 3.0, 2.0, 1.0], groups, n_bootstrap=2000, seed=1)
    assert (out["within_artist_spearman"], out["within_artist_spearman_ci_low"],
            out["within_artist_spearman_ci_high"]) == (0.0, -1.0, 1.0)
    # rho of (1, 2, 3) against (1, 3, 2) is 1 - 6 * 2 / (3 * 8) = 0.5
    same = within_artist_spearman(y, [1.0, 3.0, 2.0, 1.0, 3.0, 2.0], groups, n_bootstrap=500, seed=1)
    assert same["within_artist_spearman_ci_low"] == pytest.approx(0.5)
    assert same["within_artist_spearman_ci_high"] == pytest.approx(0.5)
    one = within_artist_spearman(y[:3], [1.0, 2.0, 3.0], groups[:3], n_bootstrap=100, seed=0)
    assert one["within_artist_spearman"] == 1.0 and np.isnan(one["within_artist_spearman_ci_low"])
    none = within_artist_spearman([1.0, 2.0], [1.0, 2.0], ["A", "A"], n_bootstrap=100, seed=0)
    assert none["within_artist_n_artists"] == 0 and np.isnan(none["within_artist_spearman"])


def test_regression_report_carries_it_over_the_scored_rows_only() -> None:
    """A failed (NaN) prediction leaves its row out of the within-artist figure as of every other metric."""
    y = CASE["y_true"].to_numpy()
    p = CASE["y_pred"].to_numpy().copy()
    p[1] = np.nan  # X keeps 3 scored tracks: (1, 3, 4) against (1, 2, 4) -> rho 1
    report = regression_report(y, p, 200, 0, count_failures=True, groups=CASE["artist"])
    assert report["within_artist_n_artists"] == 3
    assert report["within_artist_spearman"] == pytest.approx((1.0 - 1.0 + 0.0) / 3)


def test_reports_show_the_third_target_and_the_within_artist_column(tmp_path) -> None:
    y = CASE["y_true"].to_numpy()
    preds = {"good": CASE["y_pred"].to_numpy(), "mean": np.full(len(y), 5.5)}
    results = []
    for model, p in preds.items():
        frame = pd.DataFrame({"source_key": [f"k{i}" for i in range(len(y))], "artist": CASE["artist"],
                              "y_true": y, "y_pred": p})
        results.append(ModelResult(model, "popularity_within_artist", "ok", predictions=frame,
                                   metrics=regression_report(y, p, 200, 0, groups=CASE["artist"])))
    paths = write_leaderboard(results, tmp_path / "lb.md", tmp_path / "metrics", tmp_path / "plots", "h")
    text = paths["leaderboard"].read_text()
    assert "## popularity_within_artist" in text and "within-artist Spearman" in text
    good = results[0].metrics
    assert f"| {(0.8 - 1.0) / 3:+.3f} [{good['within_artist_spearman_ci_low']:+.3f}, " in text
    assert "| +0.000 [+0.000, +0.000] (3) |" in text  # the mean predictor ranks nothing inside any artist
    assert paths["metrics_popularity_within_artist"].exists()

    table = compare_on_subset(pd.read_csv(paths["predictions_popularity_within_artist"]),
                              results[0].predictions.drop(columns="y_true").iloc[:10], "llm:x", 200, 0)
    llm = table.set_index("model").loc["llm:x"]
    # The first 10 rows are X, Y and Z: 0.8, -1 and 0.
    assert llm["within_artist_spearman"] == pytest.approx((0.8 - 1.0 + 0.0) / 3)
    md = write_comparison({"popularity_within_artist": table}, tmp_path / "llm.md", "note").read_text()
    assert "within-artist Spearman" in md and f"{(0.8 - 1.0) / 3:+.3f}" in md


def test_select_note_says_wider_when_the_track_bootstrap_is_wider() -> None:
    """Every artist's labels are 1..10 evenly, so the constant 5.5 has the same MAE on each artist: the artist
    interval has no width and the track interval, which sees the spread inside artists, is the wider one."""
    from rap_analyzer.tracking.selection import Candidate, select_target

    labels = np.tile(np.linspace(1.0, 10.0, 10), 3)
    frame = pd.DataFrame({"source_key": [f"k{i}" for i in range(30)], "artist": np.repeat(["A", "B", "C"], 10),
                          "y_true": labels, "release_year": 2000.0, "y_pred": 5.5})
    mean = Candidate("r1", "mean", "mean", "full", {}, True, frame, scope="full")
    sel = select_target([mean], "popularity_within_artist", 500, 0, 0.1, ["mean"])
    note = next(n for n in sel.notes if n.startswith("Resampling tracks"))
    assert "wider than the artist interval 2.500 – 2.500" in note and "narrower" not in note
    assert mean.metrics["mae"] == pytest.approx(2.5)  # |1..10 - 5.5| averages (4.5 + 3.5 + ... + 0.5) * 2 / 10
