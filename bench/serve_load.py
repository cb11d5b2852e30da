"""Load on the running service, loopback only: requests/s and p50/p95/p99 latency of a no-op endpoint (BentoML's
GET /livez), cached and uncached POST /predict and POST /search, at concurrency 1, 8 and 32, each as a ratio to
the no-op endpoint's throughput at the same concurrency.

    .venv/bin/python bench/serve_load.py                       # starts `bentoml serve` on the project's data
    .venv/bin/python bench/serve_load.py --url http://127.0.0.1:3000   # an already running service

Every cell is bounded: at most `--requests` requests and `--max-seconds` seconds. When it starts the service
itself, the rate limit is raised (a temp params.yaml) so that the limit is not what gets measured; the
champions come from BENTOML_HOME (default data/bentoml), the data from DATABASE_URL/REDIS_URL or data/.
Goals (issue 10, 2 cores): cached /predict >= 0.8x the no-op throughput; uncached /predict p95 < 150 ms;
/search p95 < 25 ms at concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 8, 32)
LYRICS = ("I got money on my mind, cars and the block\nWe ride all night till the morning clock\n"
          "Cold in the city but the heat in my chest\nNever been the type to settle for less\n")
QUERIES = ["money and cars", "growing up poor", "love and heartbreak", "police on the block", "party all night",
           "my mother raised me", "fame and its price", "friends who betrayed me"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def started_service(bentoml_home: Path, params_path: Path) -> Iterator[str]:
    """`bentoml serve` on a free loopback port with the rate limit raised; yields its URL."""
    raw = yaml.safe_load(params_path.read_text())
    port = free_port()
    raw["serve"].update({"port": port, "host": "127.0.0.1", "rate_limit_requests": 10**9, "rate_limit_window_s": 1})
    with tempfile.TemporaryDirectory() as tmp:
        tmp_params = Path(tmp) / "params.yaml"
        tmp_params.write_text(yaml.safe_dump(raw))
        env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "RAP_ANALYZER_PARAMS": str(tmp_params),
               "RAP_ANALYZER_ROOT": str(ROOT), "BENTOML_DO_NOT_TRACK": "True"}
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(Path(sys.executable).parent / "bentoml"), "serve",
                                     "rap_analyzer.serve.service:RapAnalyzer", "--host", "127.0.0.1", "--port",
                                     str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 300
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"service did not start:\n{log.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(1)
            yield url
        finally:
            proc.terminate()
            proc.wait(60)


Request = Callable[[int], tuple[str, str, Any]]  # request number -> (method, path, json body)


def requests_for(kind: str, run_id: str) -> Request:
    if kind == "noop":
        return lambda i: ("GET", "/livez", None)
    if kind == "predict_cached":
        return lambda i: ("POST", "/predict", {"lyrics": [LYRICS]})
    if kind == "predict_uncached":  # a text never seen before: every request misses the cache
        return lambda i: ("POST", "/predict", {"lyrics": [f"{LYRICS}take {run_id}-{i}\n"]})
    if kind == "search":
        return lambda i: ("POST", "/search", {"query": QUERIES[i % len(QUERIES)], "k": 5})
    raise ValueError(kind)


async def run_cell(client: httpx.AsyncClient, make: Request, concurrency: int, n_requests: int,
                   max_seconds: float) -> dict[str, Any]:
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal errors
        while True:
            i = next(counter)
            if i >= n_requests or time.perf_counter() - started > max_seconds:
                return
            method, path, body = make(i)
            t0 = time.perf_counter()
            response = await client.request(method, path, json=body)
            latencies.append(time.perf_counter() - t0)
            errors += response.status_code != 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"n": len(latencies), "errors": errors, "rps": len(latencies) / wall,
            "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99))}


async def bench(url: str, n_requests: int, max_seconds: float) -> dict[tuple[str, int], dict[str, Any]]:
    headers = {"X-API-Key": os.environ["RAP_ANALYZER_API_KEY"]} if os.environ.get("RAP_ANALYZER_API_KEY") else {}
    limits = httpx.Limits(max_connections=max(CONCURRENCY), max_keepalive_connections=max(CONCURRENCY))
    results = {}
    run_id = f"{time.time():.0f}"
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        warm = await client.post("/predict", json={"lyrics": [LYRICS]})  # fills the cache for predict_cached
        warm.raise_for_status()
        for kind in ("noop", "predict_cached", "predict_uncached", "search"):
            for c in CONCURRENCY:
                await run_cell(client, requests_for(kind, f"warm{run_id}"), c, 2 * c, max_seconds)  # connections
                results[(kind, c)] = await run_cell(client, requests_for(kind, run_id), c, n_requests, max_seconds)
    return results


def report(results: dict[tuple[str, int], dict[str, Any]]) -> None:
    print(f"{'endpoint':<18}{'conc':>5}{'n':>6}{'err':>5}{'req/s':>9}{'x noop':>8}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'p99 ms':>9}")
    for (kind, c), r in results.items():
        ratio = r["rps"] / results[("noop", c)]["rps"]
        print(f"{kind:<18}{c:>5}{r['n']:>6}{r['errors']:>5}{r['rps']:>9.1f}{ratio:>8.2f}{r['p50']:>9.1f}"
              f"{r['p95']:>9.1f}{r['p99']:>9.1f}")
    cached = min(results[("predict_cached", c)]["rps"] / results[("noop", c)]["rps"] for c in CONCURRENCY)
    print(f"\ngoals: cached /predict >= 0.8x no-op: worst {cached:.2f}x; "
          f"uncached /predict p95 < 150 ms: {max(results[('predict_uncached', c)]['p95'] for c in CONCURRENCY):.1f} ms "
          f"(worst concurrency); /search p95 < 25 ms at concurrency 1: {results[('search', 1)]['p95']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service on loopback (default: start one)")
    parser.add_argument("--requests", type=int, default=400, help="requests per cell at most")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="seconds per cell at most")
    parser.add_argument("--params", type=Path,
                        default=Path(os.environ.get("RAP_ANALYZER_PARAMS", ROOT / "params.yaml")))
    parser.add_argument("--bentoml-home", type=Path,
                        default=Path(os.environ.get("BENTOML_HOME", ROOT / "data" / "bentoml")))
    args = parser.parse_args()
    if args.url:
        host = urlsplit(args.url).hostname
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise SystemExit(f"--url must be on loopback (got host {host!r}): this benchmark never leaves the machine")
        report(asyncio.run(bench(args.url, args.requests, args.max_seconds)))
        return
    with started_service(args.bentoml_home, args.params) as url:
        report(asyncio.run(bench(url, args.requests, args.max_seconds)))


if __name__ == "__main__":
    main()
