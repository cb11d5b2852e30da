"""The llm_eval stage against an OpenAI-compatible server on loopback (as it would run against Novita, vLLM or
OpenAI): analyses stored, runs in MLflow, and every model compared on the LLM's tracks, failures counted."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import redis
from helpers import VALID, completion, params_with
from http_replay import ReplayServer
from mlflow.tracking import MlflowClient

from rap_analyzer.config import Params
from rap_analyzer.stages import llm_eval as llm_eval_stage
from rap_analyzer.store.records import TrackRecord, content_hash
from rap_analyzer.store.tracks import upsert_tracks

KEYS = [f"genius:{n}" for n in range(1, 5)]


@pytest.fixture
def dataset(tmp_path: Path, db_url: str) -> Path:
    lyrics = [f"verse number {n}\nwith a hook that repeats {n}" for n in range(4)]
    frame = pd.DataFrame({"source_key": KEYS, "artist": "A", "lyrics_clean": lyrics,
                          "popularity": [2.0, 4.0, 6.0, 8.0], "release_year": [1995.0, 2000.0, 2005.0, 2010.0],
                          "popularity_within_artist": [1.0, 4.0, 7.0, 10.0]})
    folder = tmp_path / "processed"
    folder.mkdir()
    frame.to_parquet(folder / "eval.parquet")
    frame.iloc[:0].to_parquet(folder / "train.parquet")
    (folder / "dataset_info.json").write_text(json.dumps({"dataset_hash": "h123"}))
    plots = tmp_path / "reports" / "plots"
    plots.mkdir(parents=True)
    for target in ("popularity", "release_year", "popularity_within_artist"):
        frame[["source_key"]].assign(y_true=frame[target], mean=frame[target].mean()).to_csv(
            plots / f"predictions_{target}.csv", index=False)
    with psycopg.connect(db_url) as conn:
        records = [TrackRecord(source_key=k, source="dump", title=k, artist="A", lyrics_raw=t, lyrics_clean=t,
                               content_hash=content_hash(t)) for k, t in zip(KEYS, lyrics, strict=True)]
        upsert_tracks(conn, records)
    return folder


def test_stage_against_an_openai_compatible_server(params: Params, dataset: Path, tmp_path: Path, db_url: str,
                                                   redis_server_url: str, redis_client: redis.Redis,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_server_url)
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    good = completion(json.dumps({**VALID, "commercial_potential": 5, "estimated_release_year": 2001}))
    replies = [good, completion("not json at all"), good, good]
    with ReplayServer({"/v1/chat/completions": replies}) as server:
        stage_params = params_with({"llm_eval": {
            "backend": "openai", "base_url": f"{server.url}/v1", "model": "test-model", "api_key_env": "TEST_LLM_KEY",
            "eval_limit": None, "concurrency": 1, "n_bootstrap": 100}})
        reports = tmp_path / "reports"
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        stage = llm_eval_stage.run(stage_params, dataset, reports, tmp_path / "llm", uri, progress=False)
        requests = len(server.requests)
        metrics_text = (reports / "metrics" / "llm_eval.json").read_text()
        timings = json.loads((reports / "timings" / "llm_eval.json").read_text())
        again = llm_eval_stage.run(stage_params, dataset, reports, tmp_path / "llm", uri, progress=False)
        assert len(server.requests) == requests  # every reply came from the Redis cache
    # The DVC metric compares exactly between a fresh and a cached run; what differs lives in the timings file.
    assert (reports / "metrics" / "llm_eval.json").read_text() == metrics_text
    timings_again = json.loads((reports / "timings" / "llm_eval.json").read_text())
    assert (timings["n_cached"], timings_again["n_cached"]) == (0, 4) and timings["latency_p50_s"] > 0
    assert timings_again["latency_p50_s"] is None and timings_again["recorded_latency_p50_s"] > 0
    metrics = json.loads(metrics_text)
    assert not set(metrics) & set(timings) and "wall_s" in timings
    assert (metrics["concurrency"], metrics["deterministic"]) == (1, False)  # a remote API promises nothing
    summary = stage.summary
    assert (summary["n"], summary["n_ok"], summary["analyses_stored"]) == (4, 3, 4)
    assert summary["failures_by_reason"] == {"no_json": 1}
    assert again.summary["n_cached"] == 4 and again.summary["n_ok"] == 3
    popularity = next(r for r in stage.results if r.target == "popularity")
    assert popularity.metrics["n"] == 3 and popularity.metrics["n_failed"] == 1
    assert popularity.metrics["mae"] == pytest.approx((3 + 1 + 3) / 3)  # |5-2|, |5-6|, |5-8|: the failure unscored
    table = stage.comparison["popularity"].set_index("model")
    assert table.loc["mean", "n"] == 4 and table.loc["llm:test-model", "n_failed"] == 1
    assert "llm:test-model" in (reports / "leaderboard_llm.md").read_text()
    with psycopg.connect(db_url) as conn:
        errors = conn.execute("SELECT count(*) FROM analyses WHERE payload ? 'error'").fetchone()
    assert errors == (1,)
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("popularity").experiment_id])
    assert {r.data.tags["model"] for r in runs} == {"llm:test-model"}
    assert runs[0].data.metrics["success_rate"] == pytest.approx(0.75)
