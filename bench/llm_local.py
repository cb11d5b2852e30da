"""Speed of the offline LLM path (`llm_eval.backend: local`) against llama.cpp's own speed on the same model and
threads, in one run:

1. raw llama.cpp (`llama_cpp.Llama` in this process: no HTTP, no grammar): prompt processing and greedy generation
   tokens/s, and generation under the analysis schema's grammar (the sampler the server uses);
2. the analysis path exactly as the `llm_eval` stage runs it (`open_backend` -> llama.cpp server -> `analyze`: same
   prompt, decoding settings and parser, no reply cache) over the stage's default eval sample, at each concurrency:
   successes and failures by reason, per-reply latency p50/p95, aggregate output tokens/s (all output tokens / wall
   time), where the time of a reply goes (server log: prompt tokens reused from the cached prefix and processed, time
   to first token = prompt processing, generation, the rest = sampling, grammar and HTTP), and ratios to raw:
   aggregate tokens/s / raw generation tokens/s, and latency / the time raw llama.cpp needs for the same reply
   (processed prompt tokens at the raw prompt speed + output tokens at the raw generation speed).

    python bench/llm_local.py                          # params.yaml's llm_eval, concurrency 1 2 4
    python bench/llm_local.py --requests 10 --n-threads 2

The machine's load average is printed with each figure: on shared cores the figures move with other work.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rap_analyzer.config import LLMParams, load_params
from rap_analyzer.models.llm.backends import open_backend
from rap_analyzer.models.llm.prompt import build_messages
from rap_analyzer.models.llm.records import CallRecord, analyze
from rap_analyzer.models.llm.schema import decoding_schema
from rap_analyzer.stages.llm_eval import select_rows


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "n/a"


def raw_speed(params: LLMParams, lyrics: list[str], n_threads: int, gen_tokens: int) -> dict[str, float]:
    """llama.cpp in process on the same GGUF, threads and context: prompt tokens/s (each prompt from an empty
    cache), greedy generation tokens/s without a grammar and with the schema's grammar."""
    import json

    from llama_cpp import Llama, LlamaGrammar
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from rap_analyzer.models.llm import llama_launch
    from rap_analyzer.models.llm.local_server import smollm2_gguf_path

    llama_launch.patch()  # the server's llama.cpp settings and sampler
    gguf = params.local_model_path or str(smollm2_gguf_path())
    llm = Llama(gguf, n_ctx=params.n_ctx, n_threads=n_threads, n_threads_batch=n_threads, seed=params.seed,
                verbose=False)
    template = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token="<|im_end|>",
                                   bos_token="<|im_start|>")
    prompts = [llm.tokenize(template(messages=build_messages(text, params.max_lyrics_chars)).prompt.encode(),
                            add_bos=False, special=True) for text in lyrics]
    n = seconds = 0.0
    for tokens in prompts:
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        seconds += time.perf_counter() - started
        n += len(tokens)
    out = {"prompt_tok_s": n / seconds, "prompt_tokens": n / len(prompts)}
    grammar = LlamaGrammar.from_json_schema(json.dumps(decoding_schema()), verbose=False)
    for name, g in (("gen_tok_s", None), ("gen_grammar_tok_s", grammar)):
        llm.reset()
        started = 0.0
        # generate() never stops by itself (EOS is the caller's business), so exactly gen_tokens are timed
        for count, _ in enumerate(llm.generate(prompts[0], temp=0.0, repeat_penalty=1.1, grammar=g)):
            if count == 0:
                started = time.perf_counter()  # the prompt is processed before the first token comes
            if count == gen_tokens:
                break
        out[name] = gen_tokens / (time.perf_counter() - started)
    llm.close()
    return out


_PREFIX = re.compile(r"(\d+) prefix-match hit, remaining (\d+) prompt tokens")
_PROMPT = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
_EVAL = re.compile(r"(?<!prompt )eval time =\s*([\d.]+) ms /\s*(\d+) runs")


def server_breakdown(log: str) -> dict[str, float]:
    """Means per reply from the llama.cpp server's log (requests are decoded one at a time, so its per-request
    lines are in order): prompt tokens reused from the cached prefix, prompt tokens processed and their time (the
    time to first token inside the server), generation time."""
    prefix = [int(m.group(1)) for m in _PREFIX.finditer(log)]
    prompt = np.array([(float(m.group(1)), int(m.group(2))) for m in _PROMPT.finditer(log)]).reshape(-1, 2)
    gen = np.array([(float(m.group(1)), int(m.group(2))) for m in _EVAL.finditer(log)]).reshape(-1, 2)

    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if len(values) else float("nan")

    return {"reused": mean(np.array(prefix)), "processed": mean(prompt[:, 1]), "prompt_s": mean(prompt[:, 0]) / 1e3,
            "gen_s": mean(gen[:, 0]) / 1e3}


def run_level(backend: Any, lyrics: list[str], concurrency: int, params: LLMParams) -> tuple[list[CallRecord], float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        records = list(pool.map(lambda text: analyze(backend, text, params.max_lyrics_chars), lyrics))
    return records, time.perf_counter() - started


def report(records: list[CallRecord], wall: float, raw: dict[str, float], log: str) -> list[str]:
    ok = sum(r.ok for r in records)
    reasons: dict[str, int] = {}
    for r in records:
        if not r.ok:
            reasons[r.failure or "?"] = reasons.get(r.failure or "?", 0) + 1
    replied = [r for r in records if r.latency_s is not None]
    latency = np.array([r.latency_s for r in replied], dtype=float)
    tokens_out = np.array([r.tokens_out or 0 for r in replied], dtype=float)
    split = server_breakdown(log)
    # what raw llama.cpp needs for each reply: the processed prompt tokens, then the output tokens
    ideal = split["processed"] / raw["prompt_tok_s"] + tokens_out / raw["gen_tok_s"]
    agg = tokens_out.sum() / wall
    p50, p95 = (float(np.percentile(latency, q)) if len(latency) else float("nan") for q in (50, 95))
    return [
        f"  replies {len(records)}: ok {ok} ({ok / len(records):.0%}), failed {len(records) - ok} {reasons or ''}",
        f"  latency p50 {p50:.2f} s, p95 {p95:.2f} s (raw llama.cpp for the same replies: p50 "
        f"{np.percentile(ideal, 50):.2f} s; ratio {p50 / np.percentile(ideal, 50):.2f})",
        f"  aggregate output {agg:.1f} tok/s over {wall:.1f} s = {agg / raw['gen_tok_s']:.0%} of raw generation; "
        f"{tokens_out.mean():.0f} output tokens per reply",
        f"  per reply (server): prompt {split['reused']:.0f} tokens reused + {split['processed']:.0f} processed in "
        f"{split['prompt_s']:.2f} s (time to first token), generation {split['gen_s']:.2f} s, the rest "
        f"(queue, sampling, grammar, HTTP) {float(np.mean(latency)) - split['prompt_s'] - split['gen_s']:.2f} s "
        f"of {float(np.mean(latency)):.2f} s mean",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=None,
                        help="replies per concurrency level (default: the stage's sample, llm_eval.eval_limit)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--n-threads", type=int, default=None, help="default: llm_eval.n_threads")
    parser.add_argument("--dataset-dir", default="data/processed", help="the prepare stage's folder")
    parser.add_argument("--raw-tokens", type=int, default=128, help="tokens generated for the raw speed")
    args = parser.parse_args()

    all_params = load_params()
    updates: dict[str, Any] = {"backend": "local"}
    if args.n_threads:
        updates["n_threads"] = args.n_threads
    params = LLMParams.model_validate({**all_params.llm_eval.model_dump(), **updates})
    threads = params.n_threads or os.cpu_count() or 1
    rows = select_rows(Path(args.dataset_dir), params)
    lyrics = list(rows["lyrics_clean"])[: args.requests]

    print(f"load {load()}: raw llama.cpp, {threads} threads, no grammar, no HTTP")
    raw = raw_speed(params, lyrics[:3], threads, args.raw_tokens)
    print(f"  prompt {raw['prompt_tok_s']:.0f} tok/s ({raw['prompt_tokens']:.0f}-token prompts), generation "
          f"{raw['gen_tok_s']:.1f} tok/s; with the schema grammar {raw['gen_grammar_tok_s']:.1f} tok/s "
          f"(load {load()})")
    with open_backend(params) as backend:
        log_path: Path = backend.server_log  # type: ignore[attr-defined]  # set for backend local
        analyze(backend, lyrics[-1], params.max_lyrics_chars)  # warm-up: the first request pays model paging
        print(f"analysis path: {backend.model}, json_mode={params.json_mode}, schema={params.schema_decoding}, "
              f"max_tokens={params.max_tokens}, {len(lyrics)} replies per level (eval sample, no reply cache)")
        for level in args.concurrency:
            before = log_path.read_text(errors="replace")
            start_load = load()
            records, wall = run_level(backend, lyrics, level, params)
            log = log_path.read_text(errors="replace")[len(before):]
            print(f"concurrency {level} (load {start_load} -> {load()})")
            print("\n".join(report(records, wall, raw, log)))


if __name__ == "__main__":
    main()
