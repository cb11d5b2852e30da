"""MLflow logging into a temporary SQLite store, read back with MlflowClient; leaderboard and DVC files."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error, mean_squared_error

from rap_analyzer.models.metrics import regression_report
from rap_analyzer.models.result import ModelResult
from rap_analyzer.tracking.leaderboard import write_leaderboard
from rap_analyzer.tracking.mlflow_log import log_result, result_metrics, tracking_uri

ARTISTS = [f"artist {i % 5}" for i in range(40)]


def result(model: str, target: str, offset: float, constant: bool = False) -> ModelResult:
    y = np.random.default_rng(0).uniform(1, 10, 40)  # one eval set, as in a real run
    rng = np.random.default_rng(len(model))
    pred = np.full(40, 5.0) if constant else y + rng.normal(offset, 1.0, 40)
    return ModelResult(
        model=model, target=target, status="ok", metrics=regression_report(y, pred, 100, 0, groups=ARTISTS),
        cv_maes=[1.0 + offset, 1.2 + offset, 0.9 + offset],
        predictions=pd.DataFrame({"source_key": [f"k{i}" for i in range(40)], "artist": ARTISTS, "y_true": y,
                                  "y_pred": pred}),
        model_params={"alpha": 1.0},
    )


@pytest.fixture
def results() -> list[ModelResult]:
    return [result("ridge_features", "popularity", 0.1), result("mean", "popularity", 0.0, constant=True),
            ModelResult(model="ridge_embeddings", target="popularity", status="skipped",
                           reason="no embeddings given"),
            result("ridge_tfidf", "release_year", 2.0)]


def test_tracking_uri_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(tmp_path))  # the project root, not the package's location
    assert tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert tracking_uri() == "sqlite:///elsewhere.db"
    assert tracking_uri("sqlite:///explicit.db") == "sqlite:///explicit.db"


def test_log_and_read_back(tmp_path, results) -> None:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    run_ids = {r.model: log_result(r, dataset_hash="abc123", params={"seed": 0}, uri=uri, kind=r.model,
                                   eval_scope="full") for r in results[:3]}
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("popularity")
    assert exp is not None and exp.artifact_location.startswith((tmp_path / "mlruns").as_uri())
    assert len(client.search_runs([exp.experiment_id])) == 3

    ridge = client.get_run(run_ids["ridge_features"])
    # Independent oracles, not result_metrics(): the definitions on the logged predictions and CV folds.
    pred = results[0].predictions
    assert pred is not None
    logged = ridge.data.metrics
    assert logged["mae"] == pytest.approx(mean_absolute_error(pred["y_true"], pred["y_pred"]))
    assert logged["rmse"] == pytest.approx(math.sqrt(mean_squared_error(pred["y_true"], pred["y_pred"])))
    assert logged["spearman"] == pytest.approx(spearmanr(pred["y_true"], pred["y_pred"]).statistic)
    assert logged["cv_mae_mean"] == pytest.approx((1.1 + 1.3 + 1.0) / 3)  # cv_maes of result(offset=0.1)
    assert logged["cv_mae_std"] == pytest.approx(statistics.stdev([1.1, 1.3, 1.0]))  # sample std, ddof=1
    assert logged["mae_ci_low"] < logged["mae"] < logged["mae_ci_high"]
    assert (logged["mae_ci_low"], logged["mae_ci_high"]) == pytest.approx(
        (results[0].metrics["mae_ci_low"], results[0].metrics["mae_ci_high"]))
    assert set(logged) == set(result_metrics(results[0]))  # nothing logged beyond the documented metrics
    assert ridge.data.params == {"seed": "0", "model.alpha": "1.0"}
    assert ridge.data.tags["dataset_hash"] == "abc123" and ridge.data.tags["model"] == "ridge_features"
    assert ridge.data.tags["kind"] == "ridge_features" and ridge.data.tags["eval_scope"] == "full"
    assert ridge.info.status == "FINISHED"
    files = {f.path for f in client.list_artifacts(ridge.info.run_id)}
    plots = {f.path for f in client.list_artifacts(ridge.info.run_id, "plots")}
    assert "predictions_popularity_ridge_features.csv" in files
    assert plots == {"plots/popularity_ridge_features_pred_vs_actual.png",
                     "plots/popularity_ridge_features_residuals.png"}

    mean = client.get_run(run_ids["mean"])
    assert "spearman" not in mean.data.metrics  # undefined for a constant prediction: not logged as a number
    skipped = client.get_run(run_ids["ridge_embeddings"])
    assert skipped.data.tags["status"] == "skipped" and skipped.data.metrics == {}
    assert skipped.data.tags["skip_reason"] == "no embeddings given"


def test_leaderboard_and_dvc_files(tmp_path, results) -> None:
    paths = write_leaderboard(results, tmp_path / "leaderboard_baselines.md", tmp_path / "metrics",
                              dataset_hash="abc123")
    text = paths["leaderboard"].read_text()
    assert "## popularity" in text and "## release_year" in text and "`abc123`" in text
    pop = text.split("## release_year")[0]
    # sorted by eval MAE, skipped models listed with their reason
    order = [m for m in ("ridge_features", "mean") if m in pop]
    maes = {r.model: r.metrics["mae"] for r in results if r.status == "ok" and r.target == "popularity"}
    assert sorted(order, key=lambda m: pop.index(f"| {m} |")) == sorted(maes, key=maes.get)
    assert "| ridge_embeddings | skipped: no embeddings given |" in pop
    ridge = results[0]
    assert f"{ridge.metrics['mae']:.3f} | {ridge.metrics['mae_ci_low']:.3f} – {ridge.metrics['mae_ci_high']:.3f}" in pop

    metrics = json.loads(paths["metrics_popularity"].read_text())
    assert set(metrics) == {"ridge_features", "mean"}
    assert metrics["ridge_features"]["mae"] == pytest.approx(ridge.metrics["mae"])
    assert metrics["ridge_features"]["cv_mae_mean"] == pytest.approx(ridge.cv_mae_mean)
    assert metrics["mean"]["spearman"] is None and not math.isnan(metrics["mean"]["rmse"])

    wide = pd.read_csv(paths["predictions_popularity"])
    assert list(wide.columns) == ["source_key", "y_true", "ridge_features", "mean"]
    assert wide["source_key"].tolist() == ridge.predictions["source_key"].tolist()
    assert np.allclose(wide["ridge_features"], ridge.predictions["y_pred"])
    assert np.allclose(wide["y_true"], ridge.predictions["y_true"])
