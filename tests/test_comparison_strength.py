"""`compare_on_subset` and `write_comparison` (the llm_eval report's leaderboard on the LLM's tracks): a labelled
track missing from the baselines' CSV is each baseline's failure, a seeded report is reproducible, the errors say
what to do, and the markdown table is exactly the documented layout. Expected values are computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rap_analyzer.tracking.comparison import ROW_KEYS, compare_on_subset, write_comparison

NAN = np.nan


def by_model(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {row["model"]: row for row in table.to_dict("records")}


def test_a_labelled_track_missing_from_the_baselines_csv_is_a_failure_of_each_baseline() -> None:
    baselines = pd.DataFrame({"source_key": ["g:0", "g:1", "g:2"], "y_true": [50.0, 20.0, 70.0],
                              "ridge": [55.0, 25.0, 60.0]})
    # g:9 has a label on the LLM's side but no row in the CSV: the baseline never predicted it
    llm = pd.DataFrame({"source_key": ["g:0", "g:1", "g:2", "g:9"], "artist": ["a", "b", "a", "c"],
                        "y_true": [50.0, 20.0, 70.0, 30.0], "y_pred": [45.0, 25.0, 60.0, 35.0]})
    rows = by_model(compare_on_subset(baselines, llm, "llm:x", n_bootstrap=20, seed=0))
    assert rows["llm:x"]["n"] == 4 and rows["llm:x"]["n_failed"] == 0
    assert rows["llm:x"]["mae"] == pytest.approx((5 + 5 + 10 + 5) / 4)
    assert rows["ridge"]["n"] == 3 and rows["ridge"]["n_failed"] == 1
    assert rows["ridge"]["mae"] == pytest.approx((5 + 5 + 10) / 3)


def eight_artists() -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = [f"g:{i}" for i in range(8)]
    labels = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]
    baselines = pd.DataFrame({"source_key": keys, "y_true": labels,
                              "ridge": [12.0, 25.0, 21.0, 48.0, 50.0, 75.0, 64.0, 90.0],
                              "mean": [45.0] * 8})
    llm = pd.DataFrame({"source_key": keys, "artist": [f"artist {i}" for i in range(8)], "y_true": labels,
                        "y_pred": [11.0, 35.0, 28.0, 41.0, 70.0, 58.0, 71.0, 60.0]})
    return baselines, llm


def test_seeded_intervals_are_reproducible_and_the_best_model_is_row_zero() -> None:
    baselines, llm = eight_artists()
    first = compare_on_subset(baselines, llm, "llm:x", n_bootstrap=200, seed=5)
    second = compare_on_subset(baselines, llm, "llm:x", n_bootstrap=200, seed=5)
    for column in ("mae_ci_low", "mae_ci_high"):
        assert first[column].tolist() == second[column].tolist()
    # MAE by hand: ridge (2+5+9+8+0+15+6+10)/8 = 55/8, LLM (1+15+2+1+20+2+1+20)/8 = 62/8, mean 160/8
    assert first["model"].tolist() == ["ridge", "llm:x", "mean"]
    assert first["mae"].tolist() == pytest.approx([55 / 8, 62 / 8, 160 / 8])
    assert list(first.index) == [0, 1, 2]  # a fresh index after sorting: .loc[0] is the best model
    assert first.loc[0, "model"] == "ridge"


def test_errors_say_what_is_wrong_and_what_to_do() -> None:
    baselines, llm = eight_artists()
    with pytest.raises(ValueError) as no_artist:
        compare_on_subset(baselines, llm.drop(columns="artist"), "llm:x", 20, 0)
    assert str(no_artist.value) == ("the LLM's predictions have no 'artist' column: the confidence intervals "
                                    "resample artists")
    llm.loc[3, "y_true"] = 41.0
    with pytest.raises(ValueError) as other_labels:
        compare_on_subset(baselines, llm, "llm:x", 20, 0)
    assert str(other_labels.value) == (
        "the baselines' prediction CSV has other labels than the LLM's tracks: it comes from another dataset "
        "version; re-run the baselines stage before the llm_eval stage")


def row(model: str, n: int, n_failed: int, values: list[float] | None = None, n_artists: int = 0) -> dict:
    numbers = dict.fromkeys(ROW_KEYS[2:], NAN)
    if values is not None:
        numbers |= dict(zip(ROW_KEYS[2:-1], values, strict=True)) | {"within_artist_n_artists": n_artists}
    return {"model": model, "n": n, "n_failed": n_failed, **numbers}


def test_report_is_the_documented_markdown_table(tmp_path: Path) -> None:
    # mae, ci low, ci high, rmse, spearman, within-artist rho, its ci low and high: each value distinct
    popularity = pd.DataFrame([
        row("broken", 0, 4),  # listed first here so that the rows after an unscored one must still be written
        row("ridge", 3, 1, [6.5, 4.25, 9.125, 7.0, 0.5, 0.25, -0.5, 0.75], n_artists=2),
    ])
    year = pd.DataFrame([row("llm:x", 2, 0, [1.5, 1.0, 2.0, 1.75, -0.25, -1.0, -1.0, -1.0], n_artists=1)])
    path = tmp_path / "reports" / "nested" / "leaderboard_llm.md"  # parents that do not exist yet
    assert write_comparison({"popularity": popularity, "year": year}, path, "the note") == path
    header = "| model | n scored | failed | MAE | 95% CI (MAE) | RMSE | Spearman | within-artist Spearman [95% CI] " \
             "(artists) |"
    assert path.read_text() == "\n".join([
        "# Leaderboard: baselines and LLM on the same eval tracks",
        "",
        "the note",
        "",
        "95% CIs by bootstrap over the sampled tracks' artists (whole artists resampled, not tracks). "
        "Within-artist Spearman: the rank correlation inside each sampled artist with enough tracks, averaged "
        "over those artists.",
        "",
        "## popularity",
        "",
        header,
        "|---|---|---|---|---|---|---|---|",
        "| broken | 0 | 4 | no parseable reply | | | | |",
        "| ridge | 3 | 1 | 6.500 | 4.250 – 9.125 | 7.000 | 0.500 | +0.250 [-0.500, +0.750] (2) |",
        "",
        "## year",
        "",
        header,
        "|---|---|---|---|---|---|---|---|",
        "| llm:x | 2 | 0 | 1.500 | 1.000 – 2.000 | 1.750 | -0.250 | -1.000 [-1.000, -1.000] (1) |",
        "",
    ])
