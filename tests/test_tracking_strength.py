"""MLflow logging behaviours the tracking tests leave open (issue 16): saved models and their size, extra metrics,
the CV folds tag, the eval scope, truncation of long values, a failed run, and the git commit. Oracles: file sizes
from the file system, the commit read from `.git` by hand, and the values written out here."""

from __future__ import annotations

import subprocess
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
