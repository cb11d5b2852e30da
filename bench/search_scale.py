"""Semantic search at the seed system's claimed corpus size (57,718 songs): HNSW build time, recall@10 against
exact search and latency at several `hnsw.ef_search` values, with and without an artist or year filter; and
known-item search on real lyrics (two middle lines of a song -> that song in the top 10), rate and MRR, by meaning
alone (`nearest`) and by meaning fused with full-text search (`hybrid`).

    .venv/bin/python bench/search_scale.py [--size 57718] [--queries 200] [--known-items 500] [--seed 0]
                                           [--ef 10,20,40,80,160] [--out reports/bench/search_scale.json]

The real vectors are what the index stage stored in the project's database (`DATABASE_URL`, else the embedded
server under `paths.data_dir`) for the configured model; the benchmark copies them into a fresh embedded
PostgreSQL in a temporary folder and never writes to the project's database. Synthetic vectors fill up to
`--size`: perturbed copies of random real vectors, v' = (v + sigma * g / sqrt(384)) / |...|, g standard normal,
with sigma = sqrt(1 / c^2 - 1) so that a copy lies as far from its source (expected cosine c) as a real song from
its nearest real neighbour (c = the median nearest-neighbour cosine of the real vectors, measured here); a copy
keeps its source's artist and year, so filters stay as selective as on the real corpus.

Queries go through `rap_analyzer.store.search.nearest`, the service's query (iterative index scans on). Latency
"in the database" is PostgreSQL's own execution time of that query (`EXPLAIN (ANALYZE)`); the client round trip
is printed too. The exact oracle is a full numpy scan over every vector (and the filter's rows).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from rap_analyzer.config import load_params
from rap_analyzer.models.embeddings import DIMENSION, embed_texts, model_key
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate
from rap_analyzer.store.search import INDEX_NAME, NEAREST_SQL, ensure_hnsw, hybrid, nearest, scan_settings

K = 10


@dataclass
class Corpus:
    keys: list[str]
    artists: np.ndarray  # str
    years: np.ndarray  # int, 0 where unknown
    lyrics: list[str]
    vectors: np.ndarray  # (n, 384) float32, unit length


def real_corpus(params_path: str | None) -> Corpus:
    params = load_params(params_path)
    model = model_key(params.embed)
    with services.connect(params) as conn:
        register_vector(conn)
        rows = conn.execute(
            "SELECT t.source_key, a.name, coalesce(extract(year FROM t.release_date)::int, 0), t.lyrics_clean, "
            "e.embedding FROM embeddings e JOIN tracks t ON t.id = e.track_id JOIN artists a ON a.id = t.artist_id "
            "WHERE e.model = %s ORDER BY t.source_key", (model,)).fetchall()
    if len(rows) < 100:
        raise SystemExit(f"only {len(rows)} tracks have a {model} embedding in the project's database: run "
                         "`rap-analyzer index` (dvc repro index) first")
    return Corpus([r[0] for r in rows], np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                  [r[3] for r in rows], np.stack([r[4].to_numpy() for r in rows]).astype(np.float32))


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def median_nn_cosine(vectors: np.ndarray, rng: np.random.Generator, sample: int = 2000) -> float:
    rows = vectors[rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)]
    sims = rows @ vectors.T
    sims[sims > 0.999999] = -1.0  # the vector itself (and exact duplicates)
    return float(np.median(sims.max(axis=1)))


def perturbed(vectors: np.ndarray, sources: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    sigma = np.sqrt(1.0 / cosine**2 - 1.0)
    noise = rng.standard_normal((len(sources), DIMENSION)).astype(np.float32) * sigma / np.sqrt(DIMENSION)
    return unit(vectors[sources] + noise)


def load(conn: psycopg.Connection, corpus: Corpus, model: str, start: int = 0) -> None:
    """Tracks rows (with their clean lyrics, which full-text search reads) and their embeddings, by COPY."""
    names = sorted(set(corpus.artists[start:].tolist()))
    conn.execute("INSERT INTO artists (name) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING", (names,))
    artist_ids = dict(conn.execute("SELECT name, id FROM artists").fetchall())
    with conn.cursor() as cur:
        with cur.copy("COPY tracks (source_key, artist_id, title, release_date, lyrics_raw, lyrics_clean, source, "
                      "content_hash) FROM STDIN") as copy:
            for i in range(start, len(corpus.keys)):
                year = int(corpus.years[i])
                copy.write_row((corpus.keys[i], artist_ids[corpus.artists[i]], corpus.keys[i],
                                f"{year}-06-01" if year else None, "", corpus.lyrics[i], "bench", ""))
        ids = dict(conn.execute("SELECT source_key, id FROM tracks").fetchall())
        sql = "COPY embeddings (track_id, model, text_hash, embedding) FROM STDIN WITH (FORMAT BINARY)"
        with cur.copy(sql) as copy:
            copy.set_types(["int8", "text", "text", "vector"])
            for i in range(start, len(corpus.keys)):
                copy.write_row((ids[corpus.keys[i]], model, "", corpus.vectors[i]))
    conn.commit()


def middle_lines(lyrics: str) -> str | None:
    """Two consecutive lines from the middle of the song (section headers and blank lines skipped), or None for
    a song of fewer than 6 such lines."""
    lines = [line.strip() for line in lyrics.splitlines() if line.strip() and not line.strip().startswith("[")]
    if len(lines) < 6:
        return None
    middle = len(lines) // 2
    return "\n".join(lines[middle - 1:middle + 1])


def known_item(conn: psycopg.Connection, corpus: Corpus, params_path: str | None, model: str, n: int, seed: int,
               ef_search: int) -> dict:
    params = load_params(params_path)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(corpus.keys))
    picked = [(i, q) for i in order if (q := middle_lines(corpus.lyrics[i])) is not None][:n]
    queries = embed_texts([q for _, q in picked], params.embed, progress=False,
                          model_dir=params.data_dir / "models")
    ranks: dict[str, list[int | None]] = {"semantic": [], "hybrid": []}
    for (i, text), vector in zip(picked, queries, strict=True):
        for kind in ranks:
            if kind == "semantic":
                hits = nearest(conn, vector, model, K, ef_search=ef_search)
            else:
                hits = hybrid(conn, vector, text, model, K, ef_search=ef_search)
            keys = [h["source_key"] for h in hits]
            ranks[kind].append(keys.index(corpus.keys[i]) + 1 if corpus.keys[i] in keys else None)
    result: dict = {"songs": len(picked), "corpus": len(corpus.keys), "ef_search": ef_search}
    for kind, found in ranks.items():
        hit = [r for r in found if r is not None]
        result[kind] = {"top10_rate": round(len(hit) / len(picked), 4),
                        "mrr_at_10": round(sum(1 / r for r in hit) / len(picked), 4),
                        "top1_rate": round(sum(r == 1 for r in hit) / len(picked), 4)}
    return result


def server_ms(conn: psycopg.Connection, args: dict, ef_search: int) -> float:
    with conn.transaction():
        scan_settings(conn, ef_search)
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + NEAREST_SQL, args).fetchone()[0]  # type: ignore
    return float(plan[0]["Execution Time"])


def scale(conn: psycopg.Connection, corpus: Corpus, model: str, queries: np.ndarray, sources: np.ndarray,
          ef_values: list[int]) -> list[dict]:
    results = []
    for kind in ("none", "artist", "year"):
        for ef in ef_values:
            recalls, short, client, server = [], 0, [], []
            for query, source in zip(queries, sources, strict=True):
                args = {"q": query, "model": model, "artist": None, "year_from": None, "year_to": None,
                        "exclude": None, "k": K}
                mask = np.ones(len(corpus.keys), dtype=bool)
                if kind == "artist":
                    args["artist"] = str(corpus.artists[source])
                    mask = corpus.artists == corpus.artists[source]
                elif kind == "year":
                    year = int(corpus.years[source]) or 2000
                    args["year_from"], args["year_to"] = year - 2, year + 2
                    mask = (corpus.years >= year - 2) & (corpus.years <= year + 2)
                scores = np.where(mask, corpus.vectors @ query, -np.inf)
                want = min(K, int(mask.sum()))
                truth = {corpus.keys[i] for i in np.argsort(-scores, kind="stable")[:want]}
                started = time.perf_counter()
                hits = nearest(conn, query, model, K, artist=args["artist"], year_from=args["year_from"],
                               year_to=args["year_to"], ef_search=ef)
                client.append((time.perf_counter() - started) * 1000)
                server.append(server_ms(conn, args, ef))
                short += len(hits) < want
                recalls.append(len(truth & {h["source_key"] for h in hits}) / want if want else 1.0)
            results.append({"filter": kind, "ef_search": ef, "recall_at_10": round(float(np.mean(recalls)), 4),
                            "p50_ms": round(float(np.percentile(server, 50)), 3),
                            "p95_ms": round(float(np.percentile(server, 95)), 3),
                            "client_p50_ms": round(float(np.percentile(client, 50)), 3),
                            "client_p95_ms": round(float(np.percentile(client, 95)), 3),
                            "short_results": short, "queries": len(queries)})
            print(json.dumps(results[-1]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=57_718)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--known-items", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ef", default="10,20,40,80,160")
    parser.add_argument("--params", default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here (JSON)")
    args = parser.parse_args()
    params = load_params(args.params)
    model = model_key(params.embed)
    ef_values = [int(v) for v in args.ef.split(",")]
    rng = np.random.default_rng(args.seed)
    corpus = real_corpus(args.params)
    n_real = len(corpus.keys)
    print(f"real vectors: {n_real} ({model}); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp, psycopg.connect(
        services.embedded_postgres_url(Path(tmp) / "pg")
    ) as conn:
        migrate(conn)
        conn.commit()
        register_vector(conn)
        load(conn, corpus, model)
        conn.execute("ANALYZE")
        ensure_hnsw(conn, params.index.m, params.index.ef_construction)
        known = known_item(conn, corpus, args.params, model, args.known_items, args.seed, params.index.ef_search)
        print("known-item:", json.dumps(known))

        cosine = median_nn_cosine(corpus.vectors, rng)
        sources = rng.integers(0, n_real, size=max(0, args.size - n_real))
        copies = perturbed(corpus.vectors, sources, cosine, rng)
        corpus = Corpus(corpus.keys + [f"synthetic:{i}" for i in range(len(sources))],
                        np.concatenate([corpus.artists, corpus.artists[sources]]),
                        np.concatenate([corpus.years, corpus.years[sources]]), corpus.lyrics + [""] * len(sources),
                        np.concatenate([corpus.vectors, copies]))
        conn.execute(f'DROP INDEX "{INDEX_NAME}"')
        conn.commit()
        load(conn, corpus, model, start=n_real)
        conn.execute("ANALYZE")
        build_s = ensure_hnsw(conn, params.index.m, params.index.ef_construction)
        print(f"vectors: {len(corpus.keys)} ({n_real} real, median nearest-neighbour cosine {cosine:.3f}); HNSW "
              f"m={params.index.m} ef_construction={params.index.ef_construction} built in {build_s:.1f} s")
        query_sources = rng.integers(0, n_real, size=args.queries)
        queries = perturbed(corpus.vectors, query_sources, cosine, rng)
        results = scale(conn, corpus, model, queries, query_sources, ef_values)
    summary = {"vectors": len(corpus.keys), "real": n_real, "median_nn_cosine": round(cosine, 4),
               "hnsw": {"m": params.index.m, "ef_construction": params.index.ef_construction,
                        "build_s": round(build_s or 0.0, 2)},
               "known_item": known, "search": results, "load_average_1m": round(os.getloadavg()[0], 2),
               "cores": os.cpu_count()}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
