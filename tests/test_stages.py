"""The stages end to end on a small slice of the real corpus: scrape → prepare → embed → baselines, through
the same entry points the notebooks and the CLI call, on real PostgreSQL, Redis and MLflow stores."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import redis
import yaml
from helpers import params_with, raw_params
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from rap_analyzer.cli import app
from rap_analyzer.config import Params
from rap_analyzer.models.predictor import load_predictor
from rap_analyzer.stages import baselines as baselines_stage
from rap_analyzer.stages import embed as embed_stage
from rap_analyzer.stages import prepare as prepare_stage
from rap_analyzer.stages import scrape as scrape_stage

ARTISTS = ["Nas", "JAYZ", "Eminem", "Drake", "KendrickLamar", "OutKast", "MFDOOM", "2Pac"]


@pytest.fixture
def slice_params(params: Params, shared_dir: Path, tmp_path: Path, db_url: str, redis_server_url: str,
                 redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Params:
    folder = tmp_path / "dumps"
    folder.mkdir()
    for artist in ARTISTS:
        (folder / f"Lyrics_{artist}.json").symlink_to(shared_dir / "corpus/genius/rap" / f"Lyrics_{artist}.json")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_server_url)
    return params_with({
        "paths": {"data_dir": tmp_path / "data"},
        "scrape": {"sources": ["dump"], "dump_dirs": [str(folder)]},
        "prepare": {"n_folds": 3, "eval_fraction": 0.25},
        "baselines": {"n_bootstrap": 200},
    })


def test_pipeline_end_to_end_on_a_slice(slice_params: Params, tmp_path: Path) -> None:
    raw_dir, processed, reports = tmp_path / "raw", tmp_path / "processed", tmp_path / "reports"
    report = scrape_stage.run(slice_params, raw_dir, progress=False)
    tracks = pd.read_parquet(raw_dir / "tracks.parquet")
    assert report.seen == len(tracks) + sum(report.rejected.values()) and len(tracks) > 100

    result = prepare_stage.run(slice_params, raw_dir / "tracks.parquet", processed, progress=False)
    assert set(result.train["artist"]).isdisjoint(result.eval["artist"])
    assert {"rhyme_density", "mtld", "popularity", "release_year"} <= set(result.train.columns)
    info = json.loads((processed / "dataset_info.json").read_text())
    assert info["dataset_hash"] == result.dataset_hash
    assert info["counts"]["kept"] == len(result.train) + len(result.eval)

    summary = embed_stage.run(slice_params, processed, processed / "embeddings.parquet", progress=False)
    assert summary["embedded_now"] == summary["tracks"] == info["counts"]["kept"]
    again = embed_stage.run(slice_params, processed, processed / "embeddings.parquet", progress=False)
    assert again["embedded_now"] == 0

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = baselines_stage.run(slice_params, processed, processed / "embeddings.parquet", reports, uri)
    assert {(r.target, r.model) for r in results if r.status == "ok"} == {
        (t, m) for t in ("popularity", "release_year", "popularity_within_artist")
        for m in ("random", "mean", "rule", "ridge_features", "ridge_tfidf", "ridge_embeddings")}
    leaderboard = (reports / "leaderboard_baselines.md").read_text()
    assert "## popularity" in leaderboard and "ridge_embeddings" in leaderboard
    metrics = json.loads((reports / "metrics" / "popularity.json").read_text())
    ridge = next(r for r in results if r.target == "popularity" and r.model == "ridge_features")
    assert metrics["ridge_features"]["mae"] == pytest.approx(ridge.metrics["mae"], rel=1e-4)
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("popularity").experiment_id])
    assert len(runs) == 6 and {r.data.tags["dataset_hash"] for r in runs} == {result.dataset_hash}
    # each fitted model is in its run, tagged for the select stage, and predicts from text what the run logged
    assert {(r.data.tags["kind"], r.data.tags["eval_scope"]) for r in runs} == {
        (m, "full") for m in ("random", "mean", "rule", "ridge_features", "ridge_tfidf", "ridge_embeddings")}
    eval_ = pd.read_parquet(processed / "eval.parquet")
    labelled = eval_[eval_["popularity"].notna()]
    for model in ("ridge_tfidf", "ridge_features"):
        run = next(r for r in runs if r.data.tags["model"] == model)
        folder = client.download_artifacts(run.info.run_id, "model", str(tmp_path / model))
        logged = next(r for r in results if r.target == "popularity" and r.model == model).predictions
        again = load_predictor(Path(folder)).predict(labelled["lyrics_clean"].tolist())
        assert again.tolist() == pytest.approx(logged["y_pred"].tolist(), abs=1e-9)


def test_cli_reports_a_missing_source_in_one_line(params: Params, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(raw_params({"paths": {"shared_dir": "/nonexistent"}})))
    result = CliRunner().invoke(app, ["scrape", "--params", str(bad), "--out-dir", str(tmp_path / "raw")])
    assert result.exit_code != 0
    assert isinstance(result.exception, FileNotFoundError)
    assert "shared_dir" in str(result.exception)
    assert not (tmp_path / "raw").exists()  # nothing half-written


def test_a_target_without_labels_is_skipped_visibly(slice_params: Params, tmp_path: Path) -> None:
    raw_dir, processed, reports = tmp_path / "raw", tmp_path / "processed", tmp_path / "reports"
    scrape_stage.run(slice_params, raw_dir, progress=False)
    tracks = pd.read_parquet(raw_dir / "tracks.parquet").assign(pageviews=None)  # like the catalog source
    tracks.to_parquet(raw_dir / "tracks.parquet")
    prepare_stage.run(slice_params, raw_dir / "tracks.parquet", processed, progress=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = baselines_stage.run(slice_params, processed, None, reports, uri)
    skipped = [r for r in results if r.target == "popularity"]
    assert [(r.model, r.status) for r in skipped] == [("all baselines", "skipped")]
    assert any(r.target == "release_year" and r.status == "ok" for r in results)
    assert "no labelled popularity rows" in (reports / "leaderboard_baselines.md").read_text()
