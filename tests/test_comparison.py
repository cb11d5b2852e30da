"""`compare_on_subset`: every model scored on the LLM's labelled tracks, also when a sampled track is missing from
the baselines' prediction CSV (it leaves out eval tracks without a label)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rap_analyzer.models.metrics import regression_report
from rap_analyzer.tracking.comparison import compare_on_subset

NAN = np.nan
KEYS = [f"genius:{i}" for i in range(6)]
LABELS = [50.0, 20.0, 70.0, 40.0, 90.0, 10.0]


def baselines(drop: tuple[int, ...] = ()) -> pd.DataFrame:
    frame = pd.DataFrame({
        "source_key": KEYS, "y_true": LABELS,
        "mean": [46.0] * 6,
        "ridge": [55.0, 25.0, 60.0, 45.0, 80.0, 15.0],
        "broken": [NAN] * 6,
    })
    return frame.drop(index=list(drop)).reset_index(drop=True)


def llm(keys: list[str], y_true: list[float], y_pred: list[float]) -> pd.DataFrame:
    artists = [f"artist {int(k.split(':')[1]) % 2}" for k in keys]  # two artists: even and odd track ids
    return pd.DataFrame({"source_key": keys, "artist": artists, "y_true": y_true, "y_pred": y_pred})


def by_model(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {row["model"]: row for row in table.to_dict("records")}


def test_track_missing_from_the_baselines_is_unlabelled_and_not_scored_for_anyone() -> None:
    # genius:3 has no label, so the baselines' CSV does not hold it; the LLM was still asked about it
    keys = ["genius:0", "genius:1", "genius:3", "genius:4"]
    sample = llm(keys, [50.0, 20.0, NAN, 90.0], [45.0, NAN, 30.0, 60.0])
    table = by_model(compare_on_subset(baselines(drop=(3,)), sample, "llm:x", n_bootstrap=50, seed=0))

    assert set(table) == {"llm:x", "mean", "ridge", "broken"}
    # three labelled tracks for every model; the LLM failed one of them
    assert table["llm:x"]["n"] == 2 and table["llm:x"]["n_failed"] == 1
    assert table["llm:x"]["mae"] == pytest.approx((5 + 30) / 2)
    assert table["ridge"]["n"] == 3 and table["ridge"]["n_failed"] == 0
    assert table["ridge"]["mae"] == pytest.approx((5 + 5 + 10) / 3)
    assert table["mean"]["mae"] == pytest.approx((4 + 26 + 44) / 3)


def test_all_nan_model_has_no_score_and_every_labelled_row_failed() -> None:
    frame = baselines()
    frame.loc[1, "y_true"] = NAN  # an unlabelled row is neither scored nor a failure
    sample = llm(KEYS[:4], [50.0, NAN, 70.0, 40.0], [NAN] * 4)
    table = compare_on_subset(frame, sample, "llm:x", 50, 0)
    rows = by_model(table)
    for model in ("llm:x", "broken"):
        assert rows[model]["n"] == 0 and rows[model]["n_failed"] == 3 and np.isnan(rows[model]["mae"])
    assert set(table["model"][-2:]) == {"llm:x", "broken"}  # unscored models go last
    assert rows["ridge"]["n"] == 3


def test_metrics_equal_regression_report_on_the_same_rows() -> None:
    sample = llm(["genius:5", "genius:2", "genius:0"], [10.0, 70.0, 50.0], [20.0, 65.0, NAN])
    table = by_model(compare_on_subset(baselines(), sample, "llm:x", n_bootstrap=200, seed=3))
    expected = {
        "llm:x": regression_report([10, 70, 50], [20, 65, NAN], 200, 3, count_failures=True,
                                   groups=["artist 1", "artist 0", "artist 0"]),
        "ridge": regression_report([10, 70, 50], [15, 60, 55], 200, 3, groups=["artist 1", "artist 0", "artist 0"]),
    }
    for model, report in expected.items():
        for key in ("n", "n_failed", "mae", "mae_ci_low", "mae_ci_high", "rmse", "spearman"):
            assert table[model][key] == pytest.approx(report[key], nan_ok=True), (model, key)


def test_labels_that_disagree_with_the_baselines_csv_are_an_error() -> None:
    sample = llm(["genius:0", "genius:1"], [51.0, 20.0], [45.0, 25.0])
    with pytest.raises(ValueError, match="another dataset version"):
        compare_on_subset(baselines(), sample, "llm:x", 50, 0)
