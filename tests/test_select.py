"""The select stage over runs logged into a temporary MLflow store: the right winner, subset-scored models in
their own section, a tie reported as not established, and the champion in the registry and the BentoML store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import params_with
from mlflow.tracking import MlflowClient

from rap_analyzer.models.baselines import MeanBaseline, RidgeTfidf
from rap_analyzer.models.predictor import load_champion, predictor_from_baseline, save_predictor
from rap_analyzer.models.result import ModelResult
from rap_analyzer.stages import select as select_stage
from rap_analyzer.tracking.mlflow_log import log_result
from rap_analyzer.tracking.selection import Candidate, paired, select_target, verdict

HASH = "hash-select-test"
WORDS = ["river", "stone", "cloud", "flame", "glass", "steel", "smoke", "light"]


def split(prefix: str, n_artists: int, seed: int) -> pd.DataFrame:
    """Five tracks per artist; popularity rises with the number of times "banger" appears."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_artists):
        for t in range(5):
            hits = int(rng.integers(0, 5))
            words = ["banger"] * hits + list(rng.choice(WORDS, 30))
            rows.append({"source_key": f"{prefix}:{a}:{t}", "artist": f"{prefix} artist {a}",
                         "lyrics_clean": " ".join(words), "popularity": 2.0 + 1.5 * hits + rng.normal(0, 0.2),
                         "release_year": float(1990 + 5 * a + t), "fold": a % 3 if prefix == "t" else -1})
    return pd.DataFrame(rows)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "processed"
    folder.mkdir()
    split("t", 9, 1).to_parquet(folder / "train.parquet")
    split("e", 6, 2).to_parquet(folder / "eval.parquet")
    (folder / "dataset_info.json").write_text(json.dumps({"dataset_hash": HASH, "features": {"names": []}}))
    return folder


PARAMS = params_with({"select": {"targets": ["popularity"], "n_bootstrap": 500, "seed": 0, "cv_repeats": 2,
                                 "cv_folds": 3, "collapse_std_ratio": 0.1, "reproduce_tolerance": 1e-6}})


def log(model: str, kind: str, eval_: pd.DataFrame, pred: np.ndarray, uri: str, tmp: Path,
        fitted: object | None = None, scope: str = "full") -> str:
    predictions = pd.DataFrame({"source_key": eval_["source_key"], "artist": eval_["artist"],
                                "y_true": eval_["popularity"], "y_pred": pred})
    result = ModelResult(model, "popularity", "ok", metrics={"mae": float("nan")}, predictions=predictions)
    model_dir = None
    if fitted is not None:
        model_dir = tmp / "models" / model
        save_predictor(predictor_from_baseline(fitted, None, None), model_dir)
    return log_result(result, HASH, uri=uri, kind=kind, eval_scope=scope, model_dir=model_dir)


def mae(eval_: pd.DataFrame, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(eval_["popularity"].to_numpy() - pred)))


MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def test_select_picks_the_winner_and_registers_it(dataset: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    for name in MLFLOW_URI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    train, eval_ = pd.read_parquet(dataset / "train.parquet"), pd.read_parquet(dataset / "eval.parquet")
    ridge = RidgeTfidf("popularity", 1.0, 100).fit(train)
    mean = MeanBaseline("popularity").fit(train)
    preds = {"ridge_tfidf": ridge.predict(eval_), "mean": mean.predict(eval_),
             "user_model": eval_["popularity"].to_numpy() + 3.0}  # logged by hand: no saved model
    run_ids = {"ridge_tfidf": log("ridge_tfidf", "ridge_tfidf", eval_, preds["ridge_tfidf"], uri, tmp_path, ridge),
               "mean": log("mean", "mean", eval_, preds["mean"], uri, tmp_path, mean),
               "user_model": log("user_model", "custom", eval_, preds["user_model"], uri, tmp_path)}
    # The LLM answered about 8 tracks; two of its replies failed (NaN).
    sample = eval_.iloc[::3].reset_index(drop=True)
    llm_pred = sample["popularity"].to_numpy() + 0.5
    llm_pred[:2] = np.nan
    log("llm:x", "llm", sample, llm_pred, uri, tmp_path, scope="subset")
    # An old run of another dataset version is not a candidate.
    other = ModelResult("ancient", "popularity", "ok", predictions=pd.DataFrame(
        {"source_key": eval_["source_key"], "artist": eval_["artist"], "y_true": eval_["popularity"], "y_pred": 0.0}))
    log_result(other, "another-hash", uri=uri, kind="mean", eval_scope="full")

    result = select_stage.run(PARAMS, dataset, None, tmp_path / "reports", uri)
    # Registering leaves MLflow's settings as they were: a leaked MLFLOW_TRACKING_URI (MLflow's relative default
    # `sqlite:///mlflow.db`) sent the next target's registration to a database beside the working directory.
    assert {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES} == dict.fromkeys(MLFLOW_URI_VARIABLES)

    sel = result.selections["popularity"]
    expected_order = sorted(preds, key=lambda m: mae(eval_, preds[m]))
    assert [c.model for c in sel.ranking] == expected_order
    assert sel.champion is not None and sel.champion.model == expected_order[0] == "ridge_tfidf"
    assert sel.champion.metrics["mae"] == pytest.approx(mae(eval_, preds["ridge_tfidf"]))
    assert sel.comparisons["simple_baseline"]["other"] == "mean"
    diff = sel.comparisons["simple_baseline"]["diff"]
    assert diff["diff"] == pytest.approx(mae(eval_, preds["ridge_tfidf"]) - mae(eval_, preds["mean"]))
    # the LLM is not ranked: it has its own section, every model scored on its 8 tracks
    assert "llm:x" not in [c.model for c in sel.ranking]
    (section,) = sel.subsets
    rows = {r["model"]: r for r in section["rows"]}
    assert section["model"] == "llm:x" and set(rows) == {"llm:x", "ridge_tfidf", "mean", "user_model"}
    assert rows["llm:x"]["n"] == len(sample) - 2 and rows["llm:x"]["n_failed"] == 2
    on_sample = eval_["source_key"].isin(sample["source_key"]).to_numpy()
    assert rows["mean"]["mae"] == pytest.approx(mae(eval_[on_sample], preds["mean"][on_sample]))

    report = json.loads((tmp_path / "reports" / "leaderboard.json").read_text())["targets"]["popularity"]
    assert report["champion"]["mlflow_run_id"] == run_ids["ridge_tfidf"]
    assert [r["model"] for r in report["ranking"]] == expected_order
    cv = report["ranking"][0]["cv_repeated"]
    assert cv["n_folds"] == 6  # 2 repeats × 3 artist-grouped folds; the user model has none
    assert report["ranking"][-1]["cv_repeated"] is None
    text = (tmp_path / "reports" / "leaderboard.md").read_text()
    assert "**Champion: `ridge_tfidf`**" in text and "llm:x" in text and "resample artists" in text
    assert sorted(p.name for p in (tmp_path / "reports" / "figures" / "select").iterdir()) == [
        "popularity_error_by_decade.png", "popularity_mae_ci.png", "popularity_top3_pred_vs_true.png"]

    # BentoML: the champion with its metadata; it predicts what the run logged
    champion = load_champion("popularity")
    assert champion.tag == report["champion"]["bentoml_tag"]
    assert champion.metadata["mlflow_run_id"] == run_ids["ridge_tfidf"] and champion.metadata["kind"] == "ridge_tfidf"
    assert champion.metadata["dataset_hash"] == HASH
    lyrics = eval_["lyrics_clean"].tolist()
    assert np.array_equal(champion.predictor.predict(lyrics), preds["ridge_tfidf"])
    # MLflow registry: alias champion, loadable through models:/
    client = MlflowClient(uri, registry_uri=uri)
    version = client.get_model_version_by_alias("rap-analyzer-popularity", "champion")
    assert version.run_id == run_ids["ridge_tfidf"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        loaded = mlflow.pyfunc.load_model("models:/rap-analyzer-popularity@champion")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert np.allclose(np.asarray(loaded.predict(pd.DataFrame({"lyrics": lyrics}))), preds["ridge_tfidf"])


def test_identical_errors_are_reported_as_not_established(dataset: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    eval_ = pd.read_parquet(dataset / "eval.parquet")
    same = eval_["popularity"].to_numpy() + np.where(np.arange(len(eval_)) % 2, 1.0, -1.0)
    mean = MeanBaseline("popularity").fit(pd.read_parquet(dataset / "train.parquet"))
    log("twin_a", "mean", eval_, same, uri, tmp_path, mean)
    log("twin_b", "mean", eval_, same.copy(), uri, tmp_path, mean)
    result = select_stage.run(PARAMS, dataset, None, tmp_path / "reports", uri, save=False)
    sel = result.selections["popularity"]
    assert [c.model for c in sel.ranking] == ["twin_a", "twin_b"]  # a tie is ordered by name
    runner_up = sel.comparisons["runner_up"]
    assert runner_up["diff"]["diff"] == 0.0 and runner_up["diff"]["established"] is False
    assert "not established" in runner_up["text"]
    assert "not established" in (tmp_path / "reports" / "leaderboard.md").read_text()


def test_no_runs_for_this_dataset_is_a_clear_error(dataset: Path, tmp_path: Path) -> None:
    from rap_analyzer.errors import UserError

    with pytest.raises(UserError, match="run the baselines stage"):
        select_stage.run(PARAMS, dataset, None, tmp_path / "reports", f"sqlite:///{tmp_path / 'm.db'}", save=False)


def test_error_by_decade_by_hand() -> None:
    from rap_analyzer.tracking.select_plots import decade_errors
    from rap_analyzer.tracking.selection import Candidate, TargetSelection

    frame = pd.DataFrame({"source_key": list("abcd"), "artist": list("xxyy"), "y_true": [1.0, 2.0, 3.0, 4.0],
                          "y_pred": [2.0, 5.0, 3.5, np.nan], "release_year": [1994.0, 1999.0, 2001.0, np.nan]})
    c = Candidate("r", "m", "mean", "full", {}, True, frame, "full")
    table = decade_errors(TargetSelection("popularity", [c], [], c, {}, [], {}))
    # 1990s: |1-2| and |2-5| -> 2.0; 2000s: |3-3.5| -> 0.5; the unknown-year track failed: not scored
    assert table["m"].to_dict() == {"1990s": 2.0, "2000s": 0.5}


def _candidate(model: str, y_true: np.ndarray, y_pred: np.ndarray, artists: np.ndarray) -> Candidate:
    frame = pd.DataFrame({"source_key": [f"k{i}" for i in range(len(y_true))], "artist": artists,
                          "y_true": y_true, "y_pred": y_pred})
    return Candidate(run_id=model, model=model, kind="ridge_tfidf", declared_scope="full", run_metrics={},
                     servable=True, frame=frame, scope="full")


def test_a_model_failing_on_hard_tracks_is_never_champion() -> None:
    """Its MAE covers only the tracks it predicted, so failing on the hard ones would make it look best."""
    rng = np.random.default_rng(0)
    y_true = rng.normal(5, 2, 200)
    artists = np.repeat([f"a{i}" for i in range(20)], 10)
    steady = y_true + rng.normal(0, 1.5, 200)
    errors = np.abs(y_true - steady)
    dodger = np.where(errors > np.quantile(errors, 0.5), np.nan, y_true + rng.normal(0, 0.3, 200))
    complete, failing = _candidate("steady", y_true, steady, artists), _candidate("dodger", y_true, dodger, artists)
    sel = select_target([failing, complete], "popularity", 200, 0, 0.05, ["ridge_tfidf"])
    assert failing.metrics["mae"] < complete.metrics["mae"]  # on what it did predict it looks better ...
    assert sel.champion is complete and [c.model for c in sel.ranking] == ["steady", "dodger"]  # ... but is not
    assert any("dodger failed on 100 eval tracks" in note for note in sel.notes)
    # Paired on the tracks both predicted, the failing model "wins" there: never an established win.
    diff = paired(failing.frame, complete.frame, 200, 0)
    assert diff["diff"] < 0 and diff["n_failed_a"] == 100 and diff["n_failed_b"] == 0
    assert "not established" in verdict("dodger", "steady", diff)


def test_a_skipped_newest_run_does_not_bring_back_an_older_one(dataset: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    eval_ = pd.read_parquet(dataset / "eval.parquet")
    mean = MeanBaseline("popularity").fit(pd.read_parquet(dataset / "train.parquet"))
    log("mean", "mean", eval_, mean.predict(eval_), uri, tmp_path, mean)
    log("gone", "mean", eval_, eval_["popularity"].to_numpy() + 0.1, uri, tmp_path, mean)
    # The next run of "gone" could not run (e.g. its input went missing): it is skipped, newest.
    log_result(ModelResult("gone", "popularity", "skipped", reason="no embeddings"), HASH, uri=uri, kind="mean",
               eval_scope="full")
    result = select_stage.run(PARAMS, dataset, None, tmp_path / "reports", uri, save=False)
    assert [c.model for c in result.selections["popularity"].ranking] == ["mean"]
