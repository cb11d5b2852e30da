"""Semantic search over the pgvector `embeddings` table and the HNSW index behind it: the one place the search
queries live (the service's /search and /similar, the benchmarks and the index stage call these).

Filters and HNSW: a plain HNSW scan looks at `hnsw.ef_search` candidates and filters them afterwards, so a
selective filter (one artist of hundreds) returned fewer than k rows. pgvector 0.8's iterative index scans
(`hnsw.iterative_scan = relaxed_order`) keep scanning until k rows pass the filter (or `hnsw.max_scan_tuples`,
20,000 by default, is reached); "relaxed" order may be slightly out of order, so the k rows are sorted again by
exact distance (pgvector README, "Iterative Index Scans"). Settings are `set_config(..., true)`: they last until
the end of the transaction, so pooled connections are left untouched. Every value is a query parameter.

Scores are cosine similarities, 1 - pgvector's cosine distance (`<=>`), in [-1, 1]. Years are the release year
of the track (`tracks.release_date`), so every indexed track can be filtered, not only the dataset's.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

INDEX_NAME = "embeddings_hnsw_idx"

NEAREST_SQL = """
WITH hits AS MATERIALIZED (
    SELECT e.track_id, e.embedding <=> %(q)s AS distance
    FROM embeddings e
    JOIN tracks t ON t.id = e.track_id
    JOIN artists a ON a.id = t.artist_id
    WHERE e.model = %(model)s
      AND (%(artist)s::text IS NULL OR lower(a.name) = lower(%(artist)s::text))
      AND (%(year_from)s::int IS NULL OR extract(year FROM t.release_date)::int >= %(year_from)s::int)
      AND (%(year_to)s::int IS NULL OR extract(year FROM t.release_date)::int <= %(year_to)s::int)
      AND (%(exclude)s::bigint IS NULL OR e.track_id <> %(exclude)s::bigint)
    ORDER BY e.embedding <=> %(q)s
    LIMIT %(k)s
)
SELECT h.track_id, t.source_key, t.title, a.name, extract(year FROM t.release_date)::int, t.url, 1 - h.distance
FROM hits h
JOIN tracks t ON t.id = h.track_id
JOIN artists a ON a.id = t.artist_id
ORDER BY h.distance, h.track_id
"""


def scan_settings(conn: psycopg.Connection, ef_search: int, iterative: bool = True) -> None:
    """hnsw.ef_search and (when `iterative`) relaxed-order iterative scans for the current transaction."""
    conn.execute("SELECT set_config('hnsw.iterative_scan', %s, true), set_config('hnsw.ef_search', %s, true)",
                 ("relaxed_order" if iterative else "off", str(ef_search)))


def nearest(conn: psycopg.Connection, vector: np.ndarray, model: str, k: int, *, artist: str | None = None,
            year_from: int | None = None, year_to: int | None = None, exclude_track: int | None = None,
            ef_search: int = 40) -> list[dict[str, Any]]:
    """The k tracks whose `model` embedding is nearest to `vector` (shape (384,), unit length like the stored
    ones), best first: dicts with track_id, source_key, title, artist, year, url, score. Fewer than k only when
    fewer than k tracks pass the filters (or more than `hnsw.max_scan_tuples` rows had to be scanned). `artist`
    matches the name case-insensitively; `year_*` are inclusive bounds on the release year (tracks without a
    release date are left out by a year filter)."""
    register_vector(conn)
    with conn.transaction():
        scan_settings(conn, ef_search)
        rows = conn.execute(NEAREST_SQL, {  # type: ignore[arg-type]
            "q": np.asarray(vector, dtype=np.float32), "model": model, "artist": artist,
            "year_from": year_from, "year_to": year_to, "exclude": exclude_track, "k": k,
        }).fetchall()
    return [{"track_id": int(i), "source_key": key, "title": title, "artist": name, "year": year, "url": url,
             "score": float(score)} for i, key, title, name, year, url, score in rows]


# Songs holding every word of the query (English stems, `plainto_tsquery`: found through the GIN index), ranked by
# cover density. OR-ing the words instead matched most of the corpus and took ~560 ms a query on 10,961 tracks.
LEXICAL_SQL = """
SELECT t.id
FROM tracks t JOIN artists a ON a.id = t.artist_id JOIN embeddings e ON e.track_id = t.id AND e.model = %(model)s,
     plainto_tsquery('english', %(text)s) AS q
WHERE t.lyrics_tsv @@ q
  AND (%(artist)s::text IS NULL OR lower(a.name) = lower(%(artist)s::text))
  AND (%(year_from)s::int IS NULL OR extract(year FROM t.release_date)::int >= %(year_from)s::int)
  AND (%(year_to)s::int IS NULL OR extract(year FROM t.release_date)::int <= %(year_to)s::int)
ORDER BY ts_rank_cd(t.lyrics_tsv, q) DESC, t.id
LIMIT %(k)s
"""
# Reciprocal rank fusion's constant (Cormack, Clarke & Büttcher 2009, "Reciprocal Rank Fusion outperforms Condorcet
# and individual rank learning methods"): score = sum over rankings of 1 / (RRF_K + rank).
RRF_K = 60


def hybrid(conn: psycopg.Connection, vector: np.ndarray, text: str, model: str, k: int, *,
           artist: str | None = None, year_from: int | None = None, year_to: int | None = None,
           candidates: int = 50, ef_search: int = 40) -> list[dict[str, Any]]:
    """The k tracks best by reciprocal rank fusion of two rankings of `candidates` tracks each: `nearest` to
    `vector` (the embedding of `text`) and full-text search of `text` in the clean lyrics (songs holding every
    word, PostgreSQL English stemming, ranked by `ts_rank_cd`). Same dicts as `nearest`, `score` being the fused
    score (higher is better), best first; the same filters, on both rankings. Only indexed tracks (a `model`
    embedding) are returned."""
    semantic = nearest(conn, vector, model, max(k, candidates), artist=artist, year_from=year_from,
                       year_to=year_to, ef_search=ef_search)
    with conn.transaction():
        lexical = [row[0] for row in conn.execute(LEXICAL_SQL, {  # type: ignore[arg-type]
            "text": text, "model": model, "artist": artist, "year_from": year_from, "year_to": year_to,
            "k": max(k, candidates)}).fetchall()]
    fused: dict[int, float] = {}
    for ranking in ([h["track_id"] for h in semantic], lexical):
        for rank, track_id in enumerate(ranking, start=1):
            fused[track_id] = fused.get(track_id, 0.0) + 1.0 / (RRF_K + rank)
    best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
    rows = {h["track_id"]: h for h in semantic}
    missing = [i for i in best if i not in rows]
    if missing:
        with conn.transaction():
            found = conn.execute(
                "SELECT t.id, t.source_key, t.title, a.name, extract(year FROM t.release_date)::int, t.url "
                "FROM tracks t JOIN artists a ON a.id = t.artist_id WHERE t.id = ANY(%s)", (missing,)).fetchall()
        for i, key, title, name, year, url in found:
            rows[int(i)] = {"track_id": int(i), "source_key": key, "title": title, "artist": name, "year": year,
                            "url": url}
    return [{**rows[i], "score": fused[i]} for i in best]


def track_vector(conn: psycopg.Connection, track_id: int, model: str) -> np.ndarray | None:
    """The stored `model` embedding of a track, shape (384,), or None when the track has none."""
    register_vector(conn)
    row = conn.execute("SELECT embedding FROM embeddings WHERE track_id = %s AND model = %s",
                       (track_id, model)).fetchone()
    return None if row is None else np.asarray(row[0].to_numpy(), dtype=np.float32)


def similar(conn: psycopg.Connection, track_id: int, model: str, k: int, ef_search: int = 40) -> list[dict[str, Any]]:
    """The k nearest tracks to track `track_id`, itself excluded. Raises LookupError naming the id when the track
    has no stored embedding."""
    vector = track_vector(conn, track_id, model)
    if vector is None:
        raise LookupError(f"track_id {track_id} is not in the search index: use a track_id returned by /search")
    return nearest(conn, vector, model, k, exclude_track=track_id, ef_search=ef_search)


def hnsw_settings(conn: psycopg.Connection, index: str = INDEX_NAME) -> dict[str, int] | None:
    """{"m": ..., "ef_construction": ...} of the HNSW index (pgvector's defaults 16 and 64 where the index was
    built without options), or None when there is no such index."""
    row = conn.execute("SELECT c.reloptions FROM pg_class c WHERE c.relname = %s AND c.relkind = 'i'",
                       (index,)).fetchone()
    if row is None:
        return None
    options = dict(option.split("=", 1) for option in (row[0] or []))
    return {"m": int(options.get("m", 16)), "ef_construction": int(options.get("ef_construction", 64))}


def ensure_hnsw(conn: psycopg.Connection, m: int, ef_construction: int, table: str = "embeddings",
                index: str = INDEX_NAME, maintenance_work_mem: str = "512MB") -> float | None:
    """(Re)build the `vector_cosine_ops` HNSW index on `table.embedding` when it is missing or was built with
    other settings; pgvector keeps an existing index up to date on insert. One transaction: a killed build leaves
    the old index. Returns the build's seconds, or None when the index was already right.
    `maintenance_work_mem`: builds slow down sharply once the graph does not fit in it (pgvector README)."""
    if hnsw_settings(conn, index) == {"m": m, "ef_construction": ef_construction}:
        return None
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (maintenance_work_mem,))
        conn.execute(f'DROP INDEX IF EXISTS "{index}"')
        conn.execute(f'CREATE INDEX "{index}" ON "{table}" USING hnsw (embedding vector_cosine_ops) '  # type: ignore[arg-type]
                     f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})")
    conn.commit()
    return time.perf_counter() - started
