"""Tracks/second on the cleaned rap catalog, no cache: phonetic + lexical features (one process; goal:
hundreds of tracks/s on one core) and all-MiniLM-L6-v2 sentence embeddings on both backends of the shared
embedding code path (torch on 2 threads; the ONNX export run by onnxruntime), with their agreement.

    .venv/bin/python bench/features.py [--n-tracks N] [--n-embed N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rap_analyzer.config import load_params
from rap_analyzer.features import features_frame
from rap_analyzer.features.phonetics import cmu_dict, word_sound
from rap_analyzer.models.embeddings import embed_texts
from rap_analyzer.scrape.sources import SourceItem, iter_catalog_records


def catalog_texts(n_tracks: int) -> list[str]:
    """The cleaned lyrics of the first `n_tracks` accepted catalog songs (files in name order)."""
    params = load_params()
    records = iter_catalog_records(params.shared_path(params.scrape.catalog_dir), min_words=params.scrape.min_words)
    texts: list[str] = []
    for item in records:
        if isinstance(item, SourceItem) and item.reject_reason is None:
            texts.append(item.record.lyrics_clean)
            if len(texts) == n_tracks:
                break
    if not texts:
        raise RuntimeError("no accepted songs in the catalog; check paths.shared_dir and scrape.catalog_dir")
    return texts


def bench_features(n_tracks: int) -> float:
    """Tracks/s of `features_frame` over `n_tracks` catalog songs, starting from an empty word memo (the
    dictionary load, a one-off per process, is not counted)."""
    params = load_params()
    texts = catalog_texts(n_tracks)
    cmu_dict()
    word_sound.cache_clear()
    started = time.perf_counter()
    # The catalog holds a few songs in other scripts; the dataset stage drops them, here they are skipped.
    frame = features_frame(texts, params.features, progress=False, on_error="record")
    elapsed = time.perf_counter() - started
    return len(frame) / elapsed


def bench_embeddings(n_tracks: int, backend: str, model_dir: Path) -> tuple[float, np.ndarray]:
    """Tracks/s of the shared embedding code path (`embed_texts`) on `backend` over `n_tracks` catalog songs
    (model load and the one-off ONNX export not counted), and the vectors."""
    params = load_params()
    embed = params.embed.model_copy(update={"backend": backend})
    texts = catalog_texts(n_tracks)
    torch.set_num_threads(2)  # the figure is for the project's 2-core machines, wherever it runs
    embed_texts(texts[:2], embed, progress=False, model_dir=model_dir)  # load (and export) outside the clock
    started = time.perf_counter()
    vectors = embed_texts(texts, embed, progress=False, model_dir=model_dir)
    return len(vectors) / (time.perf_counter() - started), vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-tracks", type=int, default=1000)
    parser.add_argument("--n-embed", type=int, default=256)
    args = parser.parse_args()
    started = time.perf_counter()
    cmu_dict()
    print(f"CMU dictionary load: {time.perf_counter() - started:.2f} s")
    rate = bench_features(args.n_tracks)
    print(f"features, {args.n_tracks} tracks: {rate:.0f} tracks/s (goal: hundreds on one core)")
    rates, vectors = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as model_dir:
        for backend in ("torch", "torch_bf16", "onnx"):
            rates[backend], vectors[backend] = bench_embeddings(args.n_embed, backend, Path(model_dir))
    agreement = {b: np.sum(vectors["torch"] * vectors[b], axis=1) for b in ("torch_bf16", "onnx")}
    for backend, rate in rates.items():
        print(f"embeddings ({backend}), {args.n_embed} tracks: {rate:.1f} tracks/s ({torch.get_num_threads()} "
              f"torch threads, max_seq_length {load_params().embed.max_seq_length})")
    for backend, cosine in agreement.items():
        print(f"{backend} vs torch cosine: min {cosine.min():.6f}, mean {cosine.mean():.6f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
