"""Redis and PostgreSQL going away under the running service, and coming back. This module stops the
session's own servers, so it restarts them before it ends; its tests run after test_api and test_browser."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from conftest import Served

pytestmark = pytest.mark.slow

LYRICS = "Rolling through the city with the windows down\nEvery corner that I know is my part of town\n"


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.5)


def test_redis_stopped_mid_run_serves_uncached_and_reports_degraded(served: Served, api: httpx.Client) -> None:
    assert api.post("/predict", json={"lyrics": [LYRICS]}).status_code == 200
    assert api.post("/predict", json={"lyrics": [LYRICS]}).json()[0]["cached"] is True
    served.backing.stop_redis()
    try:
        for _ in range(3):  # the first call meets the dead connection, the next ones the open breaker
            response = api.post("/predict", json={"lyrics": [LYRICS]})
            assert response.status_code == 200, response.text
            assert response.json()[0]["cached"] is False
        analysed = api.post("/analyze", json={"lyrics": LYRICS, "k": 2})
        assert analysed.status_code == 200 and len(analysed.json()["similar"]) == 2
        health = api.get("/health").json()
        assert health["status"] == "degraded" and health["redis"]["ok"] is False
        assert "Redis" in health["redis"]["reason"]
        assert health["database"]["ok"] is True
        stats = api.get("/cache/stats")
        assert stats.status_code == 200 and stats.json()["available"] is False
        assert api.post("/search", json={"query": "city", "k": 2}).status_code == 200  # rate limit fails open
    finally:
        served.backing.start_redis()
    wait_for(lambda: api.get("/health").json()["redis"]["ok"])
    api.post("/predict", json={"lyrics": [LYRICS]})
    assert api.post("/predict", json={"lyrics": [LYRICS]}).json()[0]["cached"] is True


def test_postgres_stopped_gives_503_on_search_while_prediction_works(served: Served, api: httpx.Client) -> None:
    served.backing.stop_postgres()
    try:
        for path, payload in (("/search", {"query": "city", "k": 2}), ("/similar", {"track_id": 1, "k": 2}),
                              ("/trends", {"metric": "rhyme_density"})):
            response = api.post(path, json=payload)
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert "PostgreSQL is unavailable" in response.json()["error"]
        predicted = api.post("/predict", json={"lyrics": [LYRICS + "one more line\n"]})
        assert predicted.status_code == 200 and predicted.json()[0]["predictions"]["popularity"] is not None
        analysed = api.post("/analyze", json={"lyrics": LYRICS, "k": 2})
        assert analysed.status_code == 200
        assert analysed.json()["similar"] is None and "PostgreSQL" in analysed.json()["unavailable"]["similar"]
        health = api.get("/health").json()
        assert health["status"] == "degraded" and health["database"]["ok"] is False
    finally:
        served.backing.start_postgres()
    wait_for(lambda: api.post("/search", json={"query": "city", "k": 2}).status_code == 200, timeout_s=60)
    # Back for every request, not only for one worker: a connection pooled before the restart must not fail a
    # request (each of the 2 workers holds several).
    statuses = [api.post("/search", json={"query": f"city {i}", "k": 2}).status_code for i in range(12)]
    assert statuses == [200] * 12
