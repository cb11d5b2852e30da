"""Champion selection (issue 16): the behaviours `test_select.py` reaches only through whole stage runs, each on a
table small enough to work out by hand. Oracles: MAEs and paired differences written out here, the verdict's
words as its docstring promises them, frames built by hand, and MLflow runs made here with `MlflowClient` (not
through `log_result`) so that each rule of `find_runs` and `load_candidates` has one run that tests it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from rap_analyzer.models.metrics import bootstrap_mae_ci, paired_mae_difference, regression_report
from rap_analyzer.tracking.selection import (
    Candidate,
    _predictions,
    find_runs,
    labelled_eval,
    load_candidates,
    paired,
    score,
    select_target,
    verdict,
)

# Six tracks of three artists; every error below is a multiple of 1/4, exact in binary.
KEYS = [f"k{i}" for i in range(6)]
ARTISTS = ["a", "a", "b", "b", "c", "c"]
Y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
SERVABLE = ["ridge_tfidf", "mean", "rule"]


def frame(y_pred: list[float] | np.ndarray, keys: list[str] = KEYS) -> pd.DataFrame:
    rows = [KEYS.index(k) for k in keys]
    return pd.DataFrame({"source_key": keys, "artist": [ARTISTS[i] for i in rows], "y_true": Y[rows],
                         "release_year": 2000.0, "y_pred": np.asarray(y_pred, float)})


def cand(model: str, kind: str, y_pred: list[float] | np.ndarray, servable: bool = True, scope: str = "full",
         declared: str = "full", keys: list[str] = KEYS) -> Candidate:
    return Candidate(run_id=f"run-{model}", model=model, kind=kind, declared_scope=declared, run_metrics={},
                     servable=servable, frame=frame(y_pred, keys), scope=scope)


# --- pure functions ------------------------------------------------------------------------------------------


def test_labelled_eval_keeps_the_labelled_rows_with_keys_as_text() -> None:
    eval_ = pd.DataFrame({"source_key": [11, 12, 13], "artist": ["x", "y", "z"], "popularity": [3, None, 7],
                          "release_year": [1999, 2001, None], "lyrics_clean": ["p", "q", "r"]})
    expected = pd.DataFrame({"source_key": ["11", "13"], "artist": ["x", "z"], "y_true": [3.0, 7.0],
                             "release_year": [1999.0, np.nan]})
    pd.testing.assert_frame_equal(labelled_eval(eval_, "popularity"), expected)
    whole = pd.DataFrame({"source_key": ["5"], "artist": ["x"], "popularity": [4], "release_year": [2001]})
    pd.testing.assert_frame_equal(labelled_eval(whole, "popularity"), pd.DataFrame(
        {"source_key": ["5"], "artist": ["x"], "y_true": [4.0], "release_year": [2001.0]}))  # numbers as floats


def test_score_counts_failures_and_scores_the_rest_by_artist() -> None:
    # errors 1, (failed), 1, 0, 2, 1 -> MAE 5/5, RMSE sqrt(7/5); the failure is counted, not scored
    got = score(frame([2.0, np.nan, 4.0, 4.0, 3.0, 7.0]), 40, 0, 0.1)
    assert (got["n"], got["n_failed"], got["n_artists"]) == (5, 1, 3)
    assert got["mae"] == 1.0 and got["rmse"] == pytest.approx(math.sqrt(7 / 5))
    assert got["failure_rate"] == pytest.approx(1 / 6) and got["collapsed"] is False
    # predictions held as Python objects, a missing one as None: the same failure, the same scores
    boxed = frame([0.0] * 6).assign(y_pred=pd.Series([2.0, None, 4.0, 4.0, 3.0, 7.0], dtype=object))
    assert boxed["y_pred"].dtype == object
    assert {k: score(boxed, 40, 0, 0.1)[k] for k in ("n", "n_failed", "mae")} == {"n": 5, "n_failed": 1, "mae": 1.0}
    # One artist: an artist bootstrap has nothing to resample (a track bootstrap would give an interval).
    one = frame([2.0, 1.0], keys=["k0", "k1"])
    assert math.isnan(score(one, 40, 0, 0.1)["mae_ci_low"])


def test_score_of_a_model_that_failed_everywhere() -> None:
    got = score(frame([np.nan] * 6), 40, 0, 0.1)
    assert set(got) == {"n", "n_failed", "mae", "collapsed"}
    assert got["n"] == 0 and got["n_failed"] == 6 and math.isnan(got["mae"]) and got["collapsed"] is True


def test_collapse_flag_at_just_below_and_just_above_the_ratio() -> None:
    # predictions 0.5 * y + 1: population std exactly half the labels' (var 35/48 against 35/12)
    half = frame(0.5 * Y + 1.0)
    assert score(half, 20, 0, 0.5)["collapsed"] is True  # at the bound: collapsed
    assert score(half, 20, 0, float(np.nextafter(0.5, 0.0)))["collapsed"] is False
    assert score(half, 20, 0, float(np.nextafter(0.5, 1.0)))["collapsed"] is True


def test_paired_difference_and_failures_by_hand() -> None:
    a = frame([1.5, np.nan, 3.0, 5.0, 5.0, 6.0])  # errors 0.5, -, 0, 1, 0, 0
    b = frame([1.0, 2.0, np.nan, 4.5, 7.0, 6.25])  # errors 0, 0, -, 0.5, 2, 0.25
    a.loc[5, "y_true"] = np.nan  # an unlabelled track: neither scored nor a failure
    diff = paired(a, b, 50, 0)
    # rows both predicted on a label: k0, k3, k4 -> (0.5 - 0) + (1 - 0.5) + (0 - 2) = -1 over 3
    assert diff["diff"] == pytest.approx(-1 / 3) and diff["n"] == 3 and diff["n_artists"] == 3
    assert diff["n_failed_a"] == 1 and diff["n_failed_b"] == 1
    boxed_a = a.assign(y_pred=pd.Series([1.5, None, 3.0, 5.0, 5.0, 6.0], dtype=object))
    boxed_b = b.assign(y_pred=pd.Series([1.0, 2.0, None, 4.5, 7.0, 6.25], dtype=object))
    boxed = paired(boxed_a, boxed_b, 50, 0)
    assert (boxed["diff"], boxed["n_failed_a"], boxed["n_failed_b"]) == (diff["diff"], 1, 1)


def test_verdict_words_for_each_case() -> None:
    base = {"diff": -0.25, "ci_low": -0.5, "ci_high": -0.125, "n_artists": 7}
    interval = "MAE difference -0.250 (95% CI -0.500 to -0.125, 7 artists)"
    assert verdict("a", "b", {**base, "established": True}) == (
        f"a vs b: {interval}; a is better than b, and the interval excludes zero.")
    assert verdict("a", "b", {**base, "established": False}) == (
        f"a vs b: {interval}; the interval holds zero, so the win over b is not established.")
    assert verdict("a", "b", {**base, "established": True, "n_failed_a": 3, "n_failed_b": 0}) == (
        f"a vs b: {interval} on the tracks both predicted; a failed on 3 others, left out, so its win is not "
        "established.")
    assert verdict("a", "b", {**base, "ci_low": float("nan"), "established": False}) == (
        "a vs b: MAE difference -0.250 (95% CI +nan to -0.125, 7 artists); too few artists for an interval, so "
        "the win is not established.")
    worse = {"diff": 0.25, "ci_low": 0.125, "ci_high": 0.5, "n_artists": 7, "established": True}
    assert verdict("a", "b", worse).endswith("; b is better than a, and the interval excludes zero.")


def test_verdict_at_just_below_and_just_above_a_zero_difference() -> None:
    """The winner is a for a negative difference, b otherwise: a failure of b's counts from 0 up, a's below."""
    failed_b = {"ci_low": -1.0, "ci_high": 1.0, "n_artists": 3, "established": False, "n_failed_a": 0,
                "n_failed_b": 2}
    tiny = float(np.nextafter(0.0, 1.0))
    assert "b failed on 2 others" in verdict("a", "b", {**failed_b, "diff": 0.0})
    assert "b failed on 2 others" in verdict("a", "b", {**failed_b, "diff": tiny})
    assert "holds zero" in verdict("a", "b", {**failed_b, "diff": -tiny})  # a wins, a failed nowhere
    # "negative: a is better": a zero difference never names a the better one
    established = {"ci_low": 0.5, "ci_high": 1.0, "n_artists": 3, "established": True}
    assert "a is better than b" not in verdict("a", "b", {**established, "diff": 0.0})
    assert "a is better than b" in verdict("a", "b", {**established, "diff": -tiny})


# --- select_target -------------------------------------------------------------------------------------------

OFFSETS = np.array([0.5, -0.5, 0.5, -0.5, 0.5, -0.5])


def table() -> dict[str, Candidate]:
    """MAEs by hand: alpha 0.25 (no saved model), custom 0.375 (a kind not served), ridge and zeta 0.5 (a tie),
    mean 1.5 (constant 3.5: errors 2.5, 1.5, 0.5, 0.5, 1.5, 2.5), dodger 0 on the five tracks it predicted,
    blank nothing predicted."""
    return {"alpha": cand("alpha", "ridge_tfidf", Y + 0.25, servable=False),
            "custom": cand("custom", "custom", Y - 0.375),
            "zeta": cand("zeta", "ridge_tfidf", Y - OFFSETS),
            "ridge": cand("ridge", "ridge_tfidf", Y + OFFSETS),
            "mean": cand("mean", "mean", np.full(6, 3.5)),
            "blank": cand("blank", "ridge_tfidf", np.full(6, np.nan)),
            "dodger": cand("dodger", "ridge_tfidf", np.where(np.arange(6) == 5, np.nan, Y))}


def test_ranking_champion_and_comparisons_of_a_hand_computed_table() -> None:
    c = table()
    sel = select_target(list(c.values()), "popularity", 50, 0, 0.1, SERVABLE)
    assert [x.metrics["mae"] for x in sel.ranking[:5]] == [0.25, 0.375, 0.5, 0.5, 1.5]
    # ties by name; failed models after every complete one, the one with no MAE at all last
    assert [x.model for x in sel.ranking] == ["alpha", "custom", "ridge", "zeta", "mean", "dodger", "blank"]
    assert sel.champion is c["ridge"]  # alpha has no saved model, custom's kind is not served
    assert ("alpha has the lowest eval MAE but no saved model of a servable kind; the champion is the best "
            "servable model, ridge.") in sel.notes
    assert ("dodger failed on 1 eval tracks: its MAE covers the others only, so it is ranked after every model "
            "that predicted them all and cannot be champion.") in sel.notes
    assert any(n.startswith("blank failed on 6 eval tracks") for n in sel.notes)
    assert len([n for n in sel.notes if " failed on " in n]) == 2  # none for the models that predicted everything
    runner_up, simple = sel.comparisons["runner_up"], sel.comparisons["simple_baseline"]
    assert runner_up["other"] == "alpha" and runner_up["diff"]["diff"] == 0.5 - 0.25
    assert runner_up["text"].startswith("ridge vs alpha: MAE difference +0.250")
    assert simple["other"] == "mean" and simple["diff"]["diff"] == 0.5 - 1.5
    assert simple["text"].startswith("ridge vs mean: MAE difference -1.000")
    assert not any("simple baseline" in n for n in sel.notes)
    assert sel.target == "popularity" and sel.subsets == [] and sel.info == {}


def test_the_track_bootstrap_note_of_the_champion() -> None:
    # Errors 0 and 1 inside every artist: each artist's MAE is 0.5, so the artist interval has no width while
    # the track interval, which sees the spread inside artists, has some.
    steps = cand("steps", "ridge_tfidf", Y + np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    steps.frame.loc[0, "release_year"] = np.nan  # a track of unknown year is still scored
    sel = select_target([steps], "popularity", 60, 3, 0.1, SERVABLE, info={"k": 1})
    low, high = bootstrap_mae_ci(Y, steps.frame["y_pred"], 60, 3)  # the track bootstrap, as the note names it
    assert (steps.metrics["mae_ci_low"], steps.metrics["mae_ci_high"]) == (0.5, 0.5) and high > low
    assert (f"Resampling tracks instead of artists would have given steps a 95% CI of {low:.3f} – {high:.3f}, "
            "wider than the artist interval 0.500 – 0.500.") in sel.notes
    assert sel.info == {"k": 1}
    # Every error 0.5: both intervals have no width; equal widths count as narrower, without a ratio.
    even = select_target([cand("even", "ridge_tfidf", Y + OFFSETS)], "popularity", 60, 3, 0.1, SERVABLE)
    assert ("Resampling tracks instead of artists would have given even a 95% CI of 0.500 – 0.500, narrower than "
            "the artist interval 0.500 – 0.500.") in even.notes


def test_a_narrower_artist_interval_is_said_so_with_its_ratio() -> None:
    """Errors alike inside each artist and unlike between them: the artist interval is the wider one."""
    model = cand("lumpy", "ridge_tfidf", Y + np.array([1.0, 1.0, 2.0, 2.0, 6.0, 6.0]))
    sel = select_target([model], "popularity", 200, 1, 0.1, SERVABLE)
    low, high = bootstrap_mae_ci(Y, model.frame["y_pred"], 200, 1)
    artist_low, artist_high = model.metrics["mae_ci_low"], model.metrics["mae_ci_high"]
    width = artist_high - artist_low
    assert width > high - low > 0 and low > 0  # a zero low end would hide a ratio over high + low
    assert (f"Resampling tracks instead of artists would have given lumpy a 95% CI of {low:.3f} – {high:.3f}, "
            f"{width / (high - low):.1f}× narrower than the artist interval {artist_low:.3f} – {artist_high:.3f}."
            ) in sel.notes


def test_a_wider_track_interval_is_said_so_with_its_ratio() -> None:
    """Errors 0 and 2 inside every artist, shifted a little between artists: both intervals have a width, the
    artist one under 1 and narrower than the track one."""
    model = cand("shifted", "ridge_tfidf", Y + np.array([0.0, 2.0, 0.25, 2.25, 0.5, 2.5]))
    sel = select_target([model], "popularity", 200, 2, 0.1, SERVABLE)
    low, high = bootstrap_mae_ci(Y, model.frame["y_pred"], 200, 2)
    artist_low, artist_high = model.metrics["mae_ci_low"], model.metrics["mae_ci_high"]
    width = artist_high - artist_low
    assert 0 < width < 1 and width < high - low
    assert (f"Resampling tracks instead of artists would have given shifted a 95% CI of {low:.3f} – {high:.3f}, "
            f"{(high - low) / width:.1f}× wider than the artist interval {artist_low:.3f} – {artist_high:.3f}."
            ) in sel.notes


def test_a_simple_champion_and_no_servable_model() -> None:
    c = table()
    rule = cand("rule", "rule", np.full(6, 3.0))  # errors 2, 1, 0, 1, 2, 3: MAE 1.5, a tie with mean by name
    sel = select_target([c["mean"], rule, c["alpha"]], "popularity", 50, 0, 0.1, SERVABLE)
    assert sel.champion is c["mean"]
    assert "The champion mean is itself a simple baseline: no learned model beats it." in sel.notes
    assert sel.comparisons["simple_baseline"]["other"] == "rule"
    assert sel.comparisons["simple_baseline"]["diff"]["diff"] == 0.0
    none = select_target([c["alpha"], c["custom"]], "popularity", 50, 0, 0.1, SERVABLE)
    assert none.champion is None and none.comparisons == {}
    assert ("alpha has the lowest eval MAE but no saved model of a servable kind; the champion is the best "
            "servable model.") in none.notes
    alone = select_target([c["ridge"]], "popularity", 50, 0, 0.1, SERVABLE)
    assert alone.champion is c["ridge"] and alone.comparisons == {}


def test_a_model_with_a_failure_is_never_champion_even_when_alone() -> None:
    c = table()
    sel = select_target([c["dodger"]], "popularity", 50, 0, 0.1, SERVABLE)
    assert sel.champion is None and sel.ranking == [c["dodger"]]


def test_scope_notes_say_what_the_predictions_cover() -> None:
    declared_subset = cand("wide", "ridge_tfidf", Y, declared="subset")
    declared_full = cand("narrow", "llm", Y[:3], scope="subset", declared="full", keys=KEYS[:3])
    sel = select_target([declared_subset, declared_full], "popularity", 50, 0, 0.1, SERVABLE)
    assert ("wide was logged with eval_scope=subset but its predictions cover every labelled eval tracks: treated "
            "as full.") in sel.notes
    assert ("narrow was logged with eval_scope=full but its predictions cover only some labelled eval tracks: "
            "treated as subset.") in sel.notes
    assert [x.model for x in sel.ranking] == ["wide"] and [s["model"] for s in sel.subsets] == ["narrow"]


def test_subset_section_by_hand() -> None:
    c = table()
    keys = ["k0", "k2", "k4", "k5"]
    llm = cand("llm", "llm", [1.25, 3.0, np.nan, 6.5], scope="subset", declared="subset", keys=keys)
    sel = select_target([llm, c["mean"], c["ridge"], c["blank"], c["zeta"]], "popularity", 50, 7, 0.1, SERVABLE)
    (section,) = sel.subsets
    assert section["model"] == "llm" and section["n_tracks"] == 4 and section["n_artists"] == 3
    rows = section["rows"]
    # on k0, k2, k4, k5: llm 0.25, 0, (failed), 0.5 -> 0.25; ridge and zeta 0.5; mean 2.5, 0.5, 1.5, 2.5 -> 1.75
    assert [(r["model"], r["mae"]) for r in rows[:4]] == [("llm", 0.25), ("ridge", 0.5), ("zeta", 0.5),
                                                          ("mean", 1.75)]
    assert rows[4]["model"] == "blank" and math.isnan(rows[4]["mae"])
    assert [r["run_id"] for r in rows] == ["run-llm", "run-ridge", "run-zeta", "run-mean", "run-blank"]
    assert [r["kind"] for r in rows] == ["llm", "ridge_tfidf", "ridge_tfidf", "mean", "ridge_tfidf"]
    assert rows[0]["n_failed"] == 1
    # the best full model there is ridge (ahead of zeta, its tie, in the order given): (0.25 + 0 + 0.5) - 1.5 over 3
    assert section["vs_best"]["other"] == "ridge" and section["vs_best"]["diff"]["n_failed_a"] == 1
    assert section["vs_best"]["diff"]["diff"] == pytest.approx((0.75 - 1.5) / 3)
    assert section["vs_best"]["text"].startswith("llm vs ridge: MAE difference -0.250")


def test_every_interval_is_drawn_with_the_seed_given() -> None:
    """One artist per track and unlike errors: an interval drawn with any other seed would come out different."""
    ridge_pred = Y + np.array([0.25, -0.5, 1.0, -2.0, 4.0, 0.125])
    llm_pred = Y[:5] + np.array([1.5, -0.75, 0.0, 3.0, -0.25])
    models = [cand("ridge", "ridge_tfidf", ridge_pred), cand("mean", "mean", np.full(6, 3.5)),
              cand("llm", "llm", llm_pred, scope="subset", declared="subset", keys=KEYS[:5])]
    for model in models:
        model.frame["artist"] = model.frame["source_key"]
    sel = select_target(models, "popularity", 200, 11, 0.1, SERVABLE)
    ridge = regression_report(Y, ridge_pred, 200, 11, groups=KEYS)
    assert (sel.champion.metrics["mae_ci_low"], sel.champion.metrics["mae_ci_high"]) == (
        ridge["mae_ci_low"], ridge["mae_ci_high"])
    vs_mean = paired_mae_difference(Y, ridge_pred, np.full(6, 3.5), KEYS, 200, 11)
    for name in ("runner_up", "simple_baseline"):  # the mean is both
        assert sel.comparisons[name]["other"] == "mean"
        assert (sel.comparisons[name]["diff"]["ci_low"], sel.comparisons[name]["diff"]["ci_high"]) == (
            vs_mean["ci_low"], vs_mean["ci_high"])
    (section,) = sel.subsets
    mean_there = next(r for r in section["rows"] if r["model"] == "mean")
    expected = regression_report(Y[:5], np.full(5, 3.5), 200, 11, groups=KEYS[:5])
    assert (mean_there["mae_ci_low"], mean_there["mae_ci_high"]) == (expected["mae_ci_low"], expected["mae_ci_high"])
    # on its five tracks the mean (errors 2.5, 1.5, 0.5, 0.5, 1.5) beats ridge (0.25, 0.5, 1, 2, 4)
    assert section["vs_best"]["other"] == "mean"
    vs_best = paired_mae_difference(Y[:5], llm_pred, np.full(5, 3.5), KEYS[:5], 200, 11)
    assert (section["vs_best"]["diff"]["ci_low"], section["vs_best"]["diff"]["ci_high"]) == (
        vs_best["ci_low"], vs_best["ci_high"])


def test_a_subset_model_that_failed_everywhere_gets_no_comparison() -> None:
    c = table()
    silent = cand("silent", "llm", [np.nan, np.nan], scope="subset", declared="subset", keys=["k0", "k1"])
    sel = select_target([silent, c["ridge"]], "popularity", 50, 0, 0.1, SERVABLE)
    assert "vs_best" not in sel.subsets[0] and sel.subsets[0]["n_artists"] == 1
    only_failed = select_target([cand("llm", "llm", [1.0], scope="subset", keys=["k0"]), c["blank"]],
                                "popularity", 50, 0, 0.1, SERVABLE)
    assert "vs_best" not in only_failed.subsets[0]  # no full model has a finite MAE there


# --- runs read back from MLflow -------------------------------------------------------------------------------

HASH = "hash-strength"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, Path]:
    """One store for the module's MLflow tests (each new SQLite store costs seconds of migrations)."""
    folder = tmp_path_factory.mktemp("selection-store")
    return MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db"), folder


def make_run(client: MlflowClient, folder: Path, experiment: str, model: str, start: int,
             csvs: dict[str, pd.DataFrame] | None = None, status: str = "FINISHED", tags: dict[str, str] | None = None,
             target: str = "popularity", dataset_hash: str = HASH, model_dir: bool = False) -> str:
    found = client.get_experiment_by_name(experiment)
    exp = found.experiment_id if found else client.create_experiment(experiment)
    base = {"dataset_hash": dataset_hash, "target": target, "model": model, "kind": "ridge_tfidf",
            "eval_scope": "full", "status": "ok"}
    run = client.create_run(exp, start_time=start, tags={**base, **(tags or {})})
    run_id = run.info.run_id
    out = folder / run_id
    out.mkdir()
    for name, data in (csvs or {}).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        data.to_csv(out / name, index=False)
        client.log_artifact(run_id, str(out / name), artifact_path=str(Path(name).parent) if "/" in name else None)
    if model_dir:
        (out / "model").mkdir()
        (out / "model" / "state.json").write_text("{}")
        client.log_artifacts(run_id, str(out / "model"), artifact_path="model")
    if status != "RUNNING":
        client.set_terminated(run_id, status=status)
    return run_id


def csv(keys: list[str], y_pred: list[float], y_true: list[float] | None = None) -> pd.DataFrame:
    data: dict[str, list] = {"source_key": keys, "y_pred": y_pred}
    if y_true is not None:
        data["y_true"] = y_true
    return pd.DataFrame(data)


def test_find_runs_takes_the_newest_finished_ok_run_per_model(store: tuple[MlflowClient, Path]) -> None:
    client, folder = store
    h = "hash-find"
    made = {name: make_run(client, folder, "exp-a", model, start, status=status, tags=tags, dataset_hash=h)
            for name, model, start, status, tags in [
                ("m1-old", "m1", 1000, "FINISHED", None), ("m1-new", "m1", 2000, "FINISHED", None),
                ("m2-old", "m2", 1000, "FINISHED", None), ("m2-skip", "m2", 3000, "FINISHED", {"status": "skipped"}),
                ("m3-old", "m3", 1000, "FINISHED", None), ("m3-fail", "m3", 3000, "FAILED", None),
                ("m4-old", "m4", 1000, "FINISHED", None), ("m4-run", "m4", 3000, "RUNNING", None),
                ("no-kind", "m6", 5000, "FINISHED", {"kind": ""}), ("no-scope", "m7", 5000, "FINISHED",
                                                                   {"eval_scope": ""})]}
    made["m5"] = make_run(client, folder, "exp-b", "m5", 1500, dataset_hash=h)  # another experiment
    make_run(client, folder, "exp-a", "m8", 9000, dataset_hash="other-hash")
    make_run(client, folder, "exp-a", "m9", 9000, target="release_year", dataset_hash=h)
    runs, untagged = find_runs(client, h, "popularity")
    assert {r.data.tags["model"]: r.info.run_id for r in runs} == {"m1": made["m1-new"], "m5": made["m5"]}
    assert untagged == 2
    # A run without a status tag (logged by hand, not by `log_result`) is not marked skipped: it enters.
    hand = make_run(client, folder, "exp-a", "m10", 1000, dataset_hash=h)
    client.delete_tag(hand, "status")
    assert hand in {r.info.run_id for r in find_runs(client, h, "popularity")[0]}
    assert find_runs(client, "no-such-hash", "popularity") == ([], 0)


def test_predictions_pick_the_first_named_csv_and_see_a_saved_model(store: tuple[MlflowClient, Path]) -> None:
    client, folder = store
    picked = csv(["007", "010"], [1.0, 2.0])
    run_id = make_run(client, folder, "exp-p", "p1", 1000, model_dir=True, csvs={
        "predictions_b.csv": csv(["x"], [9.0]), "predictions_a.csv": picked, "other.csv": csv(["y"], [8.0]),
        "predictions_c.txt": csv(["z"], [7.0]), "nested/predictions_0.csv": csv(["w"], [6.0])})
    preds, servable = _predictions(client, client.get_run(run_id))
    assert servable is True and preds is not None
    pd.testing.assert_frame_equal(preds, picked)  # leading zeros kept: keys are text
    no_csv = make_run(client, folder, "exp-p", "p2", 1000, csvs={"model": csv(["x"], [1.0])})
    assert _predictions(client, client.get_run(no_csv)) == (None, False)  # a file named model is not a model


def test_load_candidates_aligns_scores_and_explains_what_it_leaves_out(store: tuple[MlflowClient, Path]) -> None:
    client, folder = store
    h = "hash-load"
    truth = pd.DataFrame({"source_key": ["k0", "k1", "k2"], "artist": ["a", "b", "b"], "y_true": [1.0, 2.0, 3.0],
                          "release_year": [1999.0, 2004.0, np.nan]})
    full = make_run(client, folder, "exp-l", "full", 1000, dataset_hash=h, model_dir=True, tags={"kind": "mean"},
                    csvs={"predictions_full.csv": csv(["k2", "k0", "k1", "k0", "zz"], [3.5, 1.5, 2.5, 9.0, 4.0],
                                                      [3.0, np.nan, 2.0, 1.0, 8.0])})
    client.log_metric(full, "mae", 0.5)
    part = make_run(client, folder, "exp-l", "part", 1000, dataset_hash=h, tags={"kind": "llm"},
                    csvs={"predictions_part.csv": csv(["k1"], [2.25])})
    # the runs left out are the newest: whatever leaves one out must go on to the older ones
    make_run(client, folder, "exp-l", "nopred", 4000, dataset_hash=h,
             csvs={"predictions_n.csv": pd.DataFrame({"source_key": ["k0"], "y": [1.0]})})
    make_run(client, folder, "exp-l", "nocsv", 3000, dataset_hash=h)
    make_run(client, folder, "exp-l", "elsewhere", 2000, dataset_hash=h, csvs={"predictions_e.csv": csv(["q"], [1.0])})
    make_run(client, folder, "exp-l", "untagged", 1000, dataset_hash=h, tags={"model": ""})

    candidates, info = load_candidates(client, h, "popularity", truth)
    assert info == {"untagged_runs": 1, "skipped": {
        "nopred": "no predictions_*.csv artifact with a y_pred column",
        "nocsv": "no predictions_*.csv artifact with a y_pred column",
        "elsewhere": "its predictions cover no labelled eval track"}}
    by_model = {c.model: c for c in candidates}
    assert set(by_model) == {"full", "part"}
    one = by_model["full"]
    assert (one.run_id, one.kind, one.declared_scope, one.scope, one.servable) == (full, "mean", "full", "full", True)
    assert one.run_metrics == {"mae": 0.5}
    # in the eval split's order, the first of a duplicated key, labels from the split, the unknown key dropped
    expected = truth.assign(y_pred=[1.5, 2.5, 3.5])
    pd.testing.assert_frame_equal(one.frame, expected)
    two = by_model["part"]
    assert (two.run_id, two.scope, two.servable, two.kind) == (part, "subset", False, "llm")
    pd.testing.assert_frame_equal(two.frame, truth.iloc[[1]].reset_index(drop=True).assign(y_pred=[2.25]))


def test_other_labels_in_a_run_mean_another_dataset_version(store: tuple[MlflowClient, Path]) -> None:
    client, folder = store
    truth = pd.DataFrame({"source_key": ["k0", "k1"], "artist": ["a", "b"], "y_true": [1.0, 2.0],
                          "release_year": [2000.0, 2001.0]})
    close = make_run(client, folder, "exp-v", "close", 1000, dataset_hash="hash-v1",
                     csvs={"predictions_v1.csv": csv(["k0", "k1"], [1.0, 2.0], [1.0 + 1e-9, 2.0])})
    assert [c.run_id for c in load_candidates(client, "hash-v1", "popularity", truth)[0]] == [close]
    other = make_run(client, folder, "exp-v", "drifted", 1000, dataset_hash="hash-v2",
                     csvs={"predictions_v2.csv": csv(["k0", "k1"], [1.0, 2.0], [1.0, 2.5])})
    message = (f"run {other} (drifted) has other labels than the eval split: it comes from another dataset "
               "version; re-run its stage")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_candidates(client, "hash-v2", "popularity", truth)


def test_a_store_without_an_active_experiment_has_no_runs(tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    (default,) = client.search_experiments()
    client.delete_experiment(default.experiment_id)
    assert find_runs(client, HASH, "popularity") == ([], 0)
