"""MLflow logging behaviours the tracking tests leave open (issue 16): saved models and their size, extra metrics,
the CV folds tag, the eval scope, truncation of long values, a failed run, the git commit (and no commit without a
repository, without git, or from a git that hangs), the run name, `log_results`' defaults, the predictions CSV, each
metric's step and timestamp, the artifact layout of SQLite and other stores, and a skipped run with predictions.
Oracles: file sizes from the file system, the commit read from `.git` by hand or printed by `git rev-parse` run here,
frames built by hand, the clock read around the call, and the values written out here."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from rap_analyzer.models.result import ModelResult
from rap_analyzer.tracking.mlflow_log import MODEL_ARTIFACT, git_commit, log_result, log_results


def ok_result(model: str = "ridge_features", target: str = "popularity") -> ModelResult:
    y = np.arange(1.0, 9.0)
    return ModelResult(model=model, target=target, status="ok",
                       metrics={"mae": 0.5, "rmse": 0.6, "spearman": float("nan"), "n": 8},
                       cv_maes=[1.0, 1.25, 0.123456789],
                       predictions=pd.DataFrame({"source_key": [f"k{i}" for i in range(8)], "artist": ["a"] * 8,
                                                 "y_true": y, "y_pred": y + 0.5}),
                       model_params={"note": "x" * 7000})


def test_runs_record_the_saved_model_extra_metrics_and_folds(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/deeper/mlruns/mlflow.db"  # the folder does not exist yet
    model_dir = tmp_path / "saved"
    (model_dir / "sub").mkdir(parents=True)
    (model_dir / "state.json").write_text("{}" * 50)
    (model_dir / "sub" / "weights.bin").write_bytes(b"\0" * 1234)
    run_ids = log_results([ok_result()], "hash1", params={"seed": 1}, uri=uri, eval_scope="subset",
                          model_dirs={"popularity/ridge_features": model_dir})
    assert list(run_ids) == ["popularity/ridge_features"]
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_ids["popularity/ridge_features"])
    assert run.data.metrics["model_size_bytes"] == 100 + 1234
    assert "spearman" not in run.data.metrics and run.data.metrics["n"] == 8
    assert run.data.tags["cv_maes"] == "1,1.25,0.123457"  # six significant digits each
    assert run.data.tags["kind"] == "ridge_features" and run.data.tags["eval_scope"] == "subset"
    assert run.data.tags["status"] == "ok" and run.data.tags["target"] == "popularity"
    assert run.data.params["seed"] == "1" and run.data.params["model.note"] == "x" * 6000
    saved = {f.path for f in client.list_artifacts(run.info.run_id, MODEL_ARTIFACT)}
    assert saved == {f"{MODEL_ARTIFACT}/state.json", f"{MODEL_ARTIFACT}/sub"}

    extra = log_result(ok_result("llm", "popularity"), "hash1", uri=uri, kind="llm", eval_scope="full",
                       experiment="llm_eval", extra_metrics={"latency_s": 2.5, "broken": float("nan"), "none": None},
                       artifacts=[model_dir / "state.json"])
    run = client.get_run(extra)
    assert client.get_experiment(run.info.experiment_id).name == "llm_eval"
    assert run.data.metrics["latency_s"] == 2.5 and "broken" not in run.data.metrics and "none" not in run.data.metrics
    assert "model_size_bytes" not in run.data.metrics
    assert "state.json" in {f.path for f in client.list_artifacts(extra)}


def test_a_skipped_model_keeps_at_most_5000_characters_of_its_reason(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    skipped = ModelResult(model="ridge_embeddings", target="popularity", status="skipped", reason="r" * 6000)
    run = MlflowClient(tracking_uri=uri).get_run(log_result(skipped, "h", uri=uri, kind="x", eval_scope="full"))
    assert run.data.tags["skip_reason"] == "r" * 5000 and run.data.metrics == {}


def test_an_unknown_eval_scope_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^eval_scope must be one of \('full', 'subset'\), got 'half'$"):
        log_result(ok_result(), "h", uri=f"sqlite:///{tmp_path}/mlflow.db", kind="x", eval_scope="half")


def test_a_run_whose_logging_fails_is_marked_failed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with pytest.raises(Exception, match=r"missing\.txt"):
        log_result(ok_result(), "h", uri=uri, kind="x", eval_scope="full", artifacts=[tmp_path / "missing.txt"])
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("popularity").experiment_id])
    assert run.info.status == "FAILED"


def test_git_commit_reads_head(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert git_commit(repo) is None  # no repository
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert git_commit(repo) is None  # no commit yet
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q",
                    "--allow-empty", "-m", "first"], check=True)
    ref = (repo / ".git" / "HEAD").read_text().split()[-1]  # "ref: refs/heads/<branch>"
    assert git_commit(repo) == (repo / ".git" / ref).read_text().strip()


def committed_repo(folder: Path) -> str:
    """A git repository at `folder` with one commit; returns HEAD as `git rev-parse` prints it (the oracle)."""
    folder.mkdir()
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q",
                    "--allow-empty", "-m", "first"], check=True)
    head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    assert len(head) == 40
    return head


def test_log_results_defaults_run_name_commit_csv_metric_step_and_plots(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """What `log_results` records when only the required arguments and `plots_dir` are given: the commit of the
    project root's repository, the full eval scope, the model as the run's name, the predictions CSV as given
    (no index column), each metric once at step 0 stamped with the logging time (MLflow: milliseconds since the
    epoch), and the plots kept in `plots_dir`."""
    head = committed_repo(tmp_path / "project")
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(tmp_path / "project"))
    predictions = pd.DataFrame({"source_key": ["a", "b", "c"], "artist": ["x", "x", "y"], "y_true": [1.0, 2.0, 4.0],
                                "y_pred": [1.5, 2.0, 3.0]}, index=[7, 3, 5])  # an index that is not 0..n-1
    result = ModelResult(model="ridge_tfidf", target="release_year", status="ok",
                         metrics={"mae": 0.5, "rmse": 0.75}, predictions=predictions)
    db_dir = tmp_path / "store"
    uri = f"sqlite:///{db_dir}/mlflow.db"
    before_ms = int(time.time() * 1000)
    run_ids = log_results([result], "hash-defaults", uri=uri, plots_dir=tmp_path / "plots")
    after_ms = int(time.time() * 1000)

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_ids["release_year/ridge_tfidf"])
    assert run.info.run_name == "ridge_tfidf"
    assert run.data.tags["git_commit"] == head and run.data.tags["eval_scope"] == "full"
    assert run.data.tags["dataset_hash"] == "hash-defaults" and "cv_maes" not in run.data.tags  # no folds given
    experiment = client.get_experiment(run.info.experiment_id)
    # Artifacts beside the SQLite file, one folder per experiment (the module's documented layout).
    assert experiment.artifact_location == (db_dir.resolve() / "artifacts" / "release_year").as_uri()

    for key, value in {"mae": 0.5, "rmse": 0.75}.items():
        (point,) = client.get_metric_history(run.info.run_id, key)
        assert point.value == value and point.step == 0
        assert before_ms <= point.timestamp <= after_ms

    local = client.download_artifacts(run.info.run_id, "predictions_release_year_ridge_tfidf.csv", str(tmp_path))
    expected = pd.DataFrame({"source_key": ["a", "b", "c"], "artist": ["x", "x", "y"], "y_true": [1.0, 2.0, 4.0],
                             "y_pred": [1.5, 2.0, 3.0]})
    pd.testing.assert_frame_equal(pd.read_csv(local), expected)

    names = {"release_year_ridge_tfidf_pred_vs_actual.png", "release_year_ridge_tfidf_residuals.png"}
    assert {p.name for p in (tmp_path / "plots").iterdir()} == names
    assert {f.path for f in client.list_artifacts(run.info.run_id, "plots")} == {f"plots/{n}" for n in names}


def test_no_commit_tag_outside_a_repository_or_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(plain))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = MlflowClient(tracking_uri=uri).get_run(log_result(ok_result(), "h", uri=uri, kind="x", eval_scope="full"))
    assert "git_commit" not in run.data.tags and run.data.tags["status"] == "ok"
    committed_repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no git program at all
    assert git_commit(tmp_path / "repo") is None


@pytest.mark.slow
def test_a_hung_git_gives_no_commit_instead_of_hanging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git that never answers in time must not hold up logging: no commit, rather than a hang. The git here
    would answer after 30 s; the call gives up well before (its bound, 10 s, is not documented, so only
    'before 30 s' is checked)."""
    repo = tmp_path / "repo"
    committed_repo(repo)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\nprint('{'f' * 40}')\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    started = time.monotonic()
    assert git_commit(repo) is None
    assert time.monotonic() - started < 30


def test_a_store_that_is_not_sqlite_keeps_mlflows_own_artifact_location(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a SQLite store gets the `<db dir>/artifacts` layout; any other store (here MLflow's file store, which
    it serves only when allowed) is used as MLflow sets it up: artifacts under `<root>/<experiment id>`."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "file-store").as_uri()
    run_id = log_result(ok_result(), "h", uri=uri, kind="x", eval_scope="full")
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["dataset_hash"] == "h"
    assert client.get_experiment(run.info.experiment_id).artifact_location == f"{uri}/{run.info.experiment_id}"
    assert "predictions_popularity_ridge_features.csv" in {f.path for f in client.list_artifacts(run_id)}


def test_a_skipped_model_with_predictions_gets_no_scores_and_no_plots(tmp_path: Path) -> None:
    """A run that is not ok records what was attempted, never numbers or plots that would read as its scores."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    predictions = pd.DataFrame({"source_key": ["a", "b"], "artist": ["x", "y"], "y_true": [1.0, 2.0],
                                "y_pred": [1.5, 2.5]})
    skipped = ModelResult(model="llm", target="popularity", status="skipped", reason="over budget",
                          metrics={"mae": 0.5, "n": 2}, cv_maes=[], predictions=predictions)
    run_id = log_result(skipped, "h", uri=uri, kind="llm", eval_scope="subset", plots_dir=tmp_path / "plots")
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics == {}
    assert run.data.tags["status"] == "skipped" and "cv_maes" not in run.data.tags
    assert {f.path for f in client.list_artifacts(run_id)} == {"predictions_popularity_llm.csv"}
    assert not (tmp_path / "plots").exists()
