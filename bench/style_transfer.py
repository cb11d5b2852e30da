"""Does a style transfer read as its target artist? The artist classifier (stage `artist_classifier`) judges.

For a seeded sample of source songs (held-out songs of the classifier's split, so it never trained on them) and,
for each, a target artist drawn among the classifier's artists other than the source's, it counts how often the
classifier ranks the target artist in its top k (`artist_classifier.top_k`, 3) for:

- the rewrite, with the target artist's `--k` nearest verses retrieved from pgvector as examples (the service's
  /style_transfer: the same `StyleWriter`, classifier, encoder, database and LLM backend);
- reference 1, the untouched source excerpt (what the classifier says before any rewriting);
- reference 2, a rewrite with k = 0 (the artist only named, no retrieved examples).

Since the prompt names the target artist, a small model often writes the name itself, which the classifier (trained
on songs where artists name themselves) reads as strong evidence. So each rate is also given with the target
artist's name removed from the text before scoring (`*_name_removed`; the exact name only, not nicknames).

It also reports the verbatim-copy rate (rewrites sharing `generation.verbatim_run_words`+ consecutive words with an
example). A rewrite the LLM fails to produce is counted as not in the top k (and counted as failed), never scored
as something it is not. Each source is its first `--source-chars` characters cut at a line break (the references
are scored on the same excerpt). Needs the database the index stage filled (embedded when DATABASE_URL is unset)
and the classifier in the BentoML store (`dvc repro artist_classifier`).

    python bench/style_transfer.py                      # local llama.cpp + SmolLM2-135M, 4 sources (a few minutes)
    python bench/style_transfer.py --n 30 --out reports/bench/style_transfer.json

Any OpenAI-compatible server instead of the local model (a vLLM server, Novita, ...), by flag or environment:

    python bench/style_transfer.py --base-url http://gpu-box:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
    STYLE_BENCH_BASE_URL=https://api.novita.ai/v3/openai STYLE_BENCH_MODEL=qwen/qwen3-4b-fp8 \\
        NOVITA_API_KEY=... python bench/style_transfer.py

The key is read from the variable `--api-key-env` names (default `llm_eval.api_key_env`, NOVITA_API_KEY), from the
environment or `.env`, and is never printed. With the 135M local model the rates are low: it follows the
instructions loosely; a larger model is what the URL option is for.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rap_analyzer.config import Params, load_params, resolve
from rap_analyzer.models.embeddings import load_model, model_key
from rap_analyzer.models.llm.backends import open_backend
from rap_analyzer.models.style.classifier import ArtistClassifier, load_from_store
from rap_analyzer.models.style.writer import StyleWriter, WriteResult
from rap_analyzer.store import services

SPLIT = Path("data/models/artist_classifier/split.json")  # the stage's held-out songs
CORPUS = Path("data/raw/corpus.parquet")


def excerpt(text: str, chars: int) -> str:
    """The first `chars` characters of `text`, cut back to the last line break inside them (whole lines), or
    the cut itself when the first line is longer."""
    if len(text) <= chars:
        return text.strip()
    cut = text[:chars]
    return (cut[:cut.rfind("\n")] if "\n" in cut else cut).strip()


def sample_pairs(corpus: pd.DataFrame, test_keys: list[str], artists: list[str], n: int, seed: int,
                 chars: int) -> pd.DataFrame:
    """`n` held-out songs of the classifier's artists (seeded), each with a target artist drawn uniformly among
    the other classifier artists: columns source_key, source_artist, target_artist, lyrics (the excerpt)."""
    rng = np.random.default_rng(seed)
    pool = corpus[corpus["source_key"].isin(test_keys) & corpus["artist"].isin(artists)]
    pool = pool.sort_values("source_key", ignore_index=True)
    if len(pool) < n:
        raise SystemExit(f"only {len(pool)} held-out songs to sample {n} from: lower --n")
    rows = pool.iloc[np.sort(rng.choice(len(pool), size=n, replace=False))]
    targets = [str(rng.choice([a for a in artists if a != source])) for source in rows["artist"]]
    return pd.DataFrame({"source_key": rows["source_key"].to_numpy(), "source_artist": rows["artist"].to_numpy(),
                         "target_artist": targets,
                         "lyrics": [excerpt(t, chars) for t in rows["lyrics_clean"]]})


def without_name(text: str, artist: str) -> str:
    """`text` with each occurrence of `artist` (case-insensitive, not inside a longer word) replaced by a space."""
    return re.sub(rf"(?<!\w){re.escape(artist)}(?!\w)", " ", text, flags=re.IGNORECASE)


def top_k_hits(classifier: ArtistClassifier, texts: list[str | None], artists: list[str], top_k: int) -> list[bool]:
    """For each text, whether the classifier ranks its artist in the top `top_k`; None (no text: a failed
    rewrite) is a miss."""
    present = [i for i, t in enumerate(texts) if t is not None]
    scores = classifier.scores([texts[i] or "" for i in present], [artists[i] for i in present]) if present else []
    hits = [False] * len(texts)
    for i, score in zip(present, scores, strict=True):
        hits[i] = score.rank <= top_k
    return hits


def in_top(result: WriteResult, top_k: int) -> bool:
    """A rewrite counts when it was produced and the classifier ranks its target artist in the top `top_k`."""
    return result.ok and result.style is not None and result.style.rank <= top_k


def rate(hits: list[bool]) -> float:
    return float(np.mean(hits)) if hits else float("nan")


def llm_params(params: Params, args: argparse.Namespace) -> Any:
    """`llm_eval` with the flags applied: a base URL (or --backend openai) selects the OpenAI-compatible client."""
    update: dict[str, Any] = {}
    if args.base_url:
        update.update(backend="openai", base_url=args.base_url)
    if args.backend:
        update["backend"] = args.backend
    if args.model:
        update["model"] = args.model
    if args.api_key_env:
        update["api_key_env"] = args.api_key_env
    return params.llm_eval.model_copy(update=update)


def run(args: argparse.Namespace) -> dict[str, Any]:
    params = load_params()
    gen = params.generation
    top_k = params.artist_classifier.top_k
    k = gen.default_k if args.k is None else args.k
    classifier: ArtistClassifier
    classifier, tag = load_from_store(gen.classifier_tag)  # as the service loads it
    split_path = resolve(args.split)
    # The held-out songs must be those of the classifier being scored, or "held-out" sources may be songs it was
    # trained on: the split's folder holds the same training run's classifier.json.
    trained_at = json.loads((split_path.parent / "classifier.json").read_text())["metadata"].get("trained_at")
    if trained_at != classifier.metadata.get("trained_at"):
        raise SystemExit(f"{split_path} belongs to the classifier trained at {trained_at}, not to {tag} (trained at "
                         f"{classifier.metadata.get('trained_at')}): rerun `dvc repro artist_classifier`, or set "
                         "generation.classifier_tag to the version whose split this is")
    test_keys = json.loads(split_path.read_text())["test_source_keys"]
    corpus = pd.read_parquet(resolve(args.corpus), columns=["source_key", "artist", "lyrics_clean"])
    pairs = sample_pairs(corpus, test_keys, classifier.artists, args.n, args.seed, args.source_chars)
    llm = llm_params(params, args)
    with ExitStack() as stack:
        started = time.perf_counter()
        backend = stack.enter_context(open_backend(llm))
        start_s = time.perf_counter() - started
        writer = StyleWriter(gen, backend, load_model(params.embed.model, params.embed.max_seq_length),
                             lambda: services.connect(params), classifier, model_key(params.embed),
                             ef_search=params.index.ef_search)
        source_scores = classifier.scores(pairs["lyrics"].tolist(), pairs["target_artist"].tolist())
        rows = []
        for i, pair in enumerate(pairs.itertuples(index=False)):
            seed = args.seed + i
            with_examples = writer.style_transfer(pair.lyrics, pair.target_artist, k=k, max_tokens=args.max_tokens,
                                                  temperature=args.temperature, seed=seed)
            without = writer.style_transfer(pair.lyrics, pair.target_artist, k=0, max_tokens=args.max_tokens,
                                            temperature=args.temperature, seed=seed)
            rows.append({"source_key": pair.source_key, "source_artist": pair.source_artist,
                         "target_artist": pair.target_artist, "source_rank": source_scores[i].rank,
                         "rewrite": _row(with_examples), "rewrite_k0": _row(without),
                         "rewrite_top": in_top(with_examples, top_k), "rewrite_k0_top": in_top(without, top_k),
                         "copied": with_examples.ok and with_examples.copied})
            if args.progress:
                print(f"[{i + 1}/{len(pairs)}] {pair.source_artist} -> {pair.target_artist}: source rank "
                      f"{source_scores[i].rank}, rewrite rank {_rank(with_examples)}, k=0 rank {_rank(without)}",
                      flush=True)
        model = backend.model
    ok = [r for r in rows if r["rewrite"]["ok"]]
    targets = pairs["target_artist"].tolist()
    masked = {
        "rewrite": [without_name(r["rewrite"]["text"], t) if r["rewrite"]["ok"] else None
                    for r, t in zip(rows, targets, strict=True)],
        "rewrite_k0": [without_name(r["rewrite_k0"]["text"], t) if r["rewrite_k0"]["ok"] else None
                       for r, t in zip(rows, targets, strict=True)],
        "source": [without_name(text, t) for text, t in zip(pairs["lyrics"], targets, strict=True)],
    }
    name_removed = {name: rate(top_k_hits(classifier, texts, targets, top_k)) for name, texts in masked.items()}
    summary = {
        "n_pairs": len(rows), "top_k": top_k, "k": k, "model": model, "backend": llm.backend,
        "classifier": tag, "classifier_artists": len(classifier.artists), "seed": args.seed,
        "source_chars": args.source_chars, "max_tokens": args.max_tokens, "temperature": args.temperature,
        "rewrite_top_k_rate": rate([r["rewrite_top"] for r in rows]),
        "source_top_k_rate": rate([s.rank <= top_k for s in source_scores]),
        "rewrite_k0_top_k_rate": rate([r["rewrite_k0_top"] for r in rows]),
        "rewrite_top_k_rate_name_removed": name_removed["rewrite"],
        "source_top_k_rate_name_removed": name_removed["source"],
        "rewrite_k0_top_k_rate_name_removed": name_removed["rewrite_k0"],
        "verbatim_copy_rate": rate([r["copied"] for r in ok]),
        "verbatim_copies": sum(r["copied"] for r in ok),
        "failed_rewrites": len(rows) - len(ok),
        "failed_rewrites_k0": sum(not r["rewrite_k0"]["ok"] for r in rows),
        "chance_top_k_rate": top_k / len(classifier.artists),
        "backend_start_s": round(start_s, 1), "seconds": round(time.perf_counter() - started, 1),
    }
    return {"summary": summary, "pairs": rows}


def _rank(result: WriteResult) -> str:
    return str(result.style.rank) if result.ok and result.style is not None else f"failed ({result.failure})"


def _row(result: WriteResult) -> dict[str, Any]:
    return {"ok": result.ok, "failure": result.failure, "text": result.text,
            "rank": result.style.rank if result.style else None,
            "probability": result.style.probability if result.style else None, "verbatim_run": result.verbatim_run,
            "example_track_ids": result.example_track_ids, "completion_tokens": result.completion_tokens,
            "latency_s": result.latency_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4, help="source songs (each gets one target artist)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--k", type=int, default=None, help="retrieved verses (default generation.default_k)")
    parser.add_argument("--max-tokens", type=int, default=96, help="reply tokens per rewrite")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--source-chars", type=int, default=400, help="characters of each source song rewritten")
    parser.add_argument("--base-url", default=os.environ.get("STYLE_BENCH_BASE_URL"),
                        help="an OpenAI-compatible endpoint (env STYLE_BENCH_BASE_URL); default: local llama.cpp")
    parser.add_argument("--model", default=os.environ.get("STYLE_BENCH_MODEL"),
                        help="model name at --base-url (env STYLE_BENCH_MODEL; default llm_eval.model)")
    parser.add_argument("--backend", choices=["local", "openai", "transformers"], default=None,
                        help="override llm_eval.backend (openai without --base-url: Novita with NOVITA_API_KEY)")
    parser.add_argument("--api-key-env", default=None, help="variable holding the endpoint's key")
    parser.add_argument("--split", type=Path, default=SPLIT, help="the classifier's split.json")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, default=None, help="write the summary and every pair here (JSON)")
    parser.add_argument("--quiet", dest="progress", action="store_false")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    result = run(args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
