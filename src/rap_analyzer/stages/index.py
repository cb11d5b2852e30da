"""Entry point of the `index` stage: every track of the corpus searchable by meaning.

Embeds, through the embed stage's code path (`models.embeddings.sync_embeddings`), every track whose clean lyrics
have no embedding for the configured model (`embed` section: model, truncation, backend) yet, and keeps the
pgvector HNSW index at the `index` section's `m` / `ef_construction`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from rap_analyzer.config import Params
from rap_analyzer.models.embeddings import model_key, sync_embeddings
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate
from rap_analyzer.store.search import ensure_hnsw


def run(params: Params, corpus_path: Path, metrics_path: Path, timings_path: Path,
        progress: bool = True) -> dict[str, Any]:
    """Reads `corpus_path` (the scrape stage's corpus.parquet: source_key, lyrics_clean) and writes pgvector
    `embeddings` rows and its HNSW index; `metrics_path` (JSON, equal on every rerun over the same corpus: tracks,
    indexed, missing_from_database, model, HNSW settings) and `timings_path` (JSON, this run: embedded, reused,
    seconds, lyrics_per_s, hnsw_build_s). Returns both merged."""
    started = time.perf_counter()
    corpus = pd.read_parquet(corpus_path, columns=["source_key", "lyrics_clean"])
    settings = params.index
    with services.connect(params) as conn:
        migrate(conn)
        conn.commit()
        summary = sync_embeddings(conn, corpus, params.embed, batch_size=settings.batch_size,
                                  model_dir=params.data_dir / "models", progress=progress)
        build_s = ensure_hnsw(conn, settings.m, settings.ef_construction)
    metrics = {
        "tracks": summary.tracks,
        "indexed": summary.tracks - len(summary.missing_from_database),
        "missing_from_database": len(summary.missing_from_database),
        "model": model_key(params.embed),
        "hnsw": {"m": settings.m, "ef_construction": settings.ef_construction, "ef_search": settings.ef_search,
                 "ops": "vector_cosine_ops"},
    }
    seconds = time.perf_counter() - started
    timings = {
        "embedded": summary.embedded,
        "reused": summary.reused,
        "backend": params.embed.backend,
        "seconds": round(seconds, 2),
        "seconds_embedding": round(summary.seconds_embedding, 2),
        "lyrics_per_s": round(summary.embedded / summary.seconds_embedding, 2) if summary.embedded else None,
        "hnsw_build_s": None if build_s is None else round(build_s, 2),
    }
    for path, data in ((metrics_path, metrics), (timings_path, timings)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
    return {**metrics, **timings}
