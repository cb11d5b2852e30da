"""Tracks/second on the cleaned rap catalog, no cache: phonetic + lexical features (one process; goal:
hundreds of tracks/s on one core) and all-MiniLM-L6-v2 sentence embeddings (torch on 2 threads).

    .venv/bin/python bench/features.py [--n-tracks N] [--n-embed N]
"""

from __future__ import annotations

import argparse
import time

import torch

from rap_analyzer.config import load_params
from rap_analyzer.features import features_frame
from rap_analyzer.features.phonetics import cmu_dict, word_sound
from rap_analyzer.models.embeddings import embed_texts, load_model
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


def bench_embeddings(n_tracks: int) -> float:
    """Tracks/s of the embed stage's encoder over `n_tracks` catalog songs (model load not counted)."""
    params = load_params()
    texts = catalog_texts(n_tracks)
    torch.set_num_threads(2)  # the figure is for the project's 2-core machines, wherever it runs
    load_model(params.embed.model, params.embed.max_seq_length)
    started = time.perf_counter()
    vectors = embed_texts(texts, params.embed, progress=False)
    return len(vectors) / (time.perf_counter() - started)


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
    rate = bench_embeddings(args.n_embed)
    print(f"embeddings, {args.n_embed} tracks: {rate:.1f} tracks/s ({torch.get_num_threads()} torch threads, "
          f"max_seq_length {load_params().embed.max_seq_length})")


if __name__ == "__main__":
    main()
