"""`run_llm_eval` over a scripted loopback server: failure accounting, metrics over successful parses only, the
Redis reply cache (a re-run sends nothing it already has), fatal errors stopping the run, and the `analyses`
rows."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import psycopg
import pytest
import redis
from helpers import CHAT, KEY, VALID, Recorder, bodies, completion, error, params_with
from http_replay import ReplayServer

from rap_analyzer.config import LLMParams
from rap_analyzer.errors import LLMAuthError
from rap_analyzer.models.llm import cache as cache_module
from rap_analyzer.models.llm.cache import ReplyCache, settings_fingerprint
from rap_analyzer.models.llm.client import LLMClient
from rap_analyzer.models.llm.evaluate import COMPARISONS, run_llm_eval
from rap_analyzer.models.llm.schema import decoding_schema
from rap_analyzer.models.llm.store import store_analyses
from rap_analyzer.resilience import RateLimiter, RetryPolicy
from rap_analyzer.store.cache import JsonCache
from rap_analyzer.store.records import TrackRecord
from rap_analyzer.store.tracks import upsert_tracks

PRICE_IN, PRICE_OUT = 0.2, 0.8


def params(**changes: object) -> LLMParams:
    base = {"backend": "openai", "model": "test-model", "max_retries": 2,
            "price_per_1m_input_usd": PRICE_IN, "price_per_1m_output_usd": PRICE_OUT}
    return params_with({"llm_eval": {**base, **changes}}).llm_eval


def client(server: ReplayServer, llm: LLMParams) -> LLMClient:
    sleeps = Recorder()
    retry = RetryPolicy(max_retries=llm.max_retries, sleep=sleeps, rng=random.Random(0))
    return LLMClient(llm, f"{server.url}/v1", KEY, retry=retry, limiter=RateLimiter(60_000, sleep=sleeps))


def frame(n: int) -> pd.DataFrame:
    popularity = [8.0, 3.0, 5.0, np.nan, 6.0, 2.0, 9.0, 4.0][:n]
    years = [2010.0, 2001.0, np.nan, 2015.0, 1999.0, 2005.0, 2018.0, 1996.0][:n]
    return pd.DataFrame({
        "source_key": [f"genius:{i}" for i in range(n)],
        "artist": [f"artist {i % 3}" for i in range(n)],
        "lyrics_clean": [f"verse number {i}\nwith its own words and a rhyme to {i}" for i in range(n)],
        "popularity": popularity, "release_year": years, "popularity_within_artist": popularity,
    })


SCRIPT = [
    completion(json.dumps({**VALID, "commercial_potential": 7, "estimated_release_year": 2008}), 100, 30),
    completion("<think>short verse</think>" + json.dumps({**VALID, "commercial_potential": 2,
                                                          "estimated_release_year": 2003}), 110, 50),
    completion('{"themes": ["street"], "mood": "cold"', 120, 20),
    completion(json.dumps({**VALID, "commercial_potential": 11}), 130, 40),
    error(500), error(500), error(500),  # the last row: 3 attempts, then a recorded failure; repeats after
]


@pytest.fixture
def reply_cache(redis_client: redis.Redis) -> ReplyCache:
    return ReplyCache(JsonCache(redis_client, "llm_reply"), params())


def test_accounting_metrics_and_cached_rerun(reply_cache: ReplyCache) -> None:
    llm, rows = params(), frame(5)
    with ReplayServer({CHAT: SCRIPT}) as server:
        records, summary = run_llm_eval(rows, llm, client(server, llm), reply_cache, concurrency=1,
                                        n_bootstrap=50, progress=False)
        assert len(server.requests_to(CHAT)) == 7
        again, rerun = run_llm_eval(rows, llm, client(server, llm), reply_cache, concurrency=1,
                                    n_bootstrap=50, progress=False)
        assert len(server.requests_to(CHAT)) == 7 + 3  # only the row without a reply is asked again

    assert list(records["source_key"]) == list(rows["source_key"])
    assert list(records["ok"]) == [True, True, False, False, False]
    assert list(records["commercial_potential"][:2]) == [7, 2]
    assert records["commercial_potential"][2:].isna().all()  # failures never get a score
    assert summary["n"] == 5 and summary["n_ok"] == 2 and summary["success_rate"] == pytest.approx(0.4)
    assert summary["failures_by_reason"] == {
        "invalid_json": 1, "validation: commercial_potential out of range": 1, "server_error": 1}
    assert summary["attempts_total"] == 7 and summary["n_cached"] == 0 and summary["n_latency"] == 4
    assert summary["schema_decoding"] is False  # only llama.cpp (backend local) takes the schema
    assert summary["tokens_in_mean"] == pytest.approx(115) and summary["tokens_out_mean"] == pytest.approx(35)
    assert summary["cost_usd"] == pytest.approx((460 * PRICE_IN + 140 * PRICE_OUT) / 1e6)
    assert summary["cost_usd_this_run"] == pytest.approx(summary["cost_usd"])
    assert 0 < summary["latency_p50_s"] <= summary["latency_p95_s"] <= summary["latency_p99_s"]
    # scored over the two successful parses only: |8-7|, |3-2| and |2010-2008|, |2001-2003|
    assert summary["popularity_n"] == 2 and summary["popularity_mae"] == pytest.approx(1.0)
    assert summary["year_n"] == 2 and summary["year_mae"] == pytest.approx(2.0)

    assert list(again["cached"]) == [True, True, True, True, False]
    assert list(again["attempts"]) == [0, 0, 0, 0, 3]
    assert rerun["n_cached"] == 4 and rerun["n_latency"] == 0 and rerun["latency_p50_s"] is None
    assert rerun["recorded_latency_p50_s"] == pytest.approx(summary["recorded_latency_p50_s"])
    assert rerun["cost_usd_this_run"] == 0 and rerun["cost_usd"] == pytest.approx(summary["cost_usd"])
    assert rerun["failures_by_reason"] == summary["failures_by_reason"]
    assert rerun["popularity_mae"] == summary["popularity_mae"]


def test_cache_misses_when_the_settings_change(reply_cache: ReplyCache) -> None:
    assert settings_fingerprint(params()) != settings_fingerprint(params(temperature=0.7))
    assert settings_fingerprint(params()) != settings_fingerprint(params(max_lyrics_chars=200))
    assert settings_fingerprint(params()) == settings_fingerprint(params(concurrency=8))
    assert reply_cache.key("a", "x") != reply_cache.key("b", "x")


def test_cache_misses_when_the_decoding_schema_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    local = params(backend="local")
    before = settings_fingerprint(local)
    monkeypatch.setattr(cache_module, "decoding_schema", lambda: {"type": "object", "properties": {}})
    assert settings_fingerprint(local) != before  # replies sampled under another grammar are not reused
    assert settings_fingerprint(params()) == settings_fingerprint(params())


@pytest.mark.parametrize(("changes", "constrained"), [
    ({}, True), ({"schema_decoding": False}, False), ({"json_mode": False}, False)])
def test_summary_says_whether_decoding_followed_the_schema(changes: dict[str, bool], constrained: bool) -> None:
    llm = params(backend="local", **changes)
    with ReplayServer({CHAT: completion(json.dumps(VALID))}) as server:
        local = client(server, llm)
        local.kind = "local"  # as open_backend sets up the llama.cpp server's client
        local.response_schema = decoding_schema() if llm.schema_decoding else None
        _, summary = run_llm_eval(frame(2), llm, local, None, n_bootstrap=20, progress=False)
        sent = bodies(server)
    assert summary["schema_decoding"] is constrained
    assert all(("schema" in body.get("response_format", {})) is constrained for body in sent)


def test_concurrent_run_keeps_row_order() -> None:
    llm, rows = params(), frame(8)
    with ReplayServer({CHAT: completion(json.dumps(VALID))}) as server:
        records, summary = run_llm_eval(rows, llm, client(server, llm), None, concurrency=3,
                                        n_bootstrap=50, progress=False)
        assert len(server.requests_to(CHAT)) == 8
    assert list(records["source_key"]) == list(rows["source_key"]) and summary["success_rate"] == 1.0
    assert summary["popularity_n"] == 7 and summary["year_n"] == 7  # NaN labels are not scored


def test_authentication_error_stops_the_run() -> None:
    llm, rows = params(), frame(8)
    with ReplayServer({CHAT: error(401)}) as server:
        with pytest.raises(LLMAuthError, match="NOVITA_API_KEY"):
            run_llm_eval(rows, llm, client(server, llm), None, concurrency=2, progress=False)
        assert 1 <= len(server.requests_to(CHAT)) <= 2  # at most the requests already in flight


def test_bad_input_is_a_clear_error() -> None:
    rows = frame(2)
    with pytest.raises(ValueError, match="prompt_version"):
        run_llm_eval(rows, params(prompt_version="v0"), None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="popularity"):
        run_llm_eval(rows.drop(columns="popularity"), params(), None, None)  # type: ignore[arg-type]
    rows.loc[1, "lyrics_clean"] = " "
    with pytest.raises(ValueError, match="empty lyrics_clean"):
        run_llm_eval(rows, params(), None, None)  # type: ignore[arg-type]


def test_analyses_stored_and_upserted(db: psycopg.Connection) -> None:
    llm, rows = params(), frame(5)
    tracks = [TrackRecord(source_key=k, source="dump", title=f"song {k}", artist="Tester", lyrics_raw=t,
                          lyrics_clean=t) for k, t in zip(rows["source_key"][:4], rows["lyrics_clean"][:4],
                                                          strict=True)]
    upsert_tracks(db, tracks)  # the fifth track is not in the database
    with ReplayServer({CHAT: SCRIPT}) as server:
        records, _ = run_llm_eval(rows, llm, client(server, llm), None, concurrency=1, progress=False,
                                  n_bootstrap=50)
    assert store_analyses(db, records, analyzer="llm:test-model", model_version="v1") == 4
    assert store_analyses(db, records, analyzer="llm:test-model", model_version="v1") == 4
    stored = dict(db.execute(
        "SELECT t.source_key, a.payload FROM analyses a JOIN tracks t ON t.id = a.track_id "
        "WHERE a.analyzer = 'llm:test-model' AND a.model_version = 'v1'").fetchall())
    assert sorted(stored) == [f"genius:{i}" for i in range(4)]
    assert stored["genius:0"]["commercial_potential"] == 7 and stored["genius:0"]["themes"] == VALID["themes"]
    assert "error" not in stored["genius:0"] and stored["genius:0"]["meta"]["tokens_in"] == 100
    assert stored["genius:2"]["error"] == "invalid_json"
    assert stored["genius:2"]["raw_reply"] == '{"themes": ["street"], "mood": "cold"'
    assert stored["genius:3"]["error"] == "validation: commercial_potential out of range"
    assert "commercial_potential" not in stored["genius:3"]


def test_score_prefixes_name_one_block_each() -> None:
    """A summary key is `<prefix>_<metric>`; were one prefix plus "_" the start of another, two targets' keys
    could coincide ("popularity_" + "within_artist_spearman") and one number would silently replace the other."""
    prefixes = [prefix + "_" for _, _, prefix in COMPARISONS]
    assert len(set(prefixes)) == len(prefixes)
    for a in prefixes:
        for b in prefixes:
            assert a == b or not b.startswith(a), (a, b)
