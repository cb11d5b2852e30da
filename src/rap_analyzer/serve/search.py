"""Semantic search over the pgvector `embeddings` table (filled by the embed stage): nearest tracks to a
query vector, optionally within one artist and a range of release years, and the neighbours of a track.

Filters and HNSW: a plain HNSW scan looks at `hnsw.ef_search` candidates and filters them afterwards, so a
selective filter (one artist of fifty) returned fewer than k rows. pgvector 0.8's iterative index scans
(`hnsw.iterative_scan = relaxed_order`) keep scanning until k rows pass the filter (or
`hnsw.max_scan_tuples` is reached); "relaxed" order may be slightly out of order, so the k rows are sorted
again by exact distance (pgvector README, "Iterative Index Scans"). Every value is a query parameter.

Scores are cosine similarities, 1 − pgvector's cosine distance (`<=>`), in [-1, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from rap_analyzer.config import EmbedParams

HITS_SQL = """
WITH hits AS MATERIALIZED (
    SELECT e.track_id, e.embedding <=> %(q)s AS distance
    FROM embeddings e
    JOIN tracks t ON t.id = e.track_id
    JOIN artists a ON a.id = t.artist_id
    LEFT JOIN track_features f ON f.track_id = e.track_id
    WHERE e.model = %(model)s
      AND (%(artist)s::text IS NULL OR lower(a.name) = lower(%(artist)s::text))
      AND (%(year_from)s::int IS NULL OR f.release_year >= %(year_from)s::int)
      AND (%(year_to)s::int IS NULL OR f.release_year <= %(year_to)s::int)
      AND (%(exclude)s::bigint IS NULL OR e.track_id <> %(exclude)s::bigint)
    ORDER BY e.embedding <=> %(q)s
    LIMIT %(k)s
)
SELECT h.track_id, t.title, a.name, f.release_year, t.url, 1 - h.distance AS score
FROM hits h
JOIN tracks t ON t.id = h.track_id
JOIN artists a ON a.id = t.artist_id
LEFT JOIN track_features f ON f.track_id = h.track_id
ORDER BY h.distance, h.track_id
"""


def embedding_model_name(params: EmbedParams) -> str:
    """The `embeddings.model` value the embed stage writes: the model and its truncation length (vectors of
    two lengths must not mix)."""
    return f"{params.model}@{params.max_seq_length}"


def _scan_settings(conn: psycopg.Connection, ef_search: int) -> None:
    # set_config(..., true) lasts until the end of the transaction, so pooled connections are left untouched.
    conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                 "set_config('hnsw.ef_search', %s, true)", (str(ef_search),))


def nearest(conn: psycopg.Connection, vector: np.ndarray, model: str, k: int, *, artist: str | None = None,
            year_from: int | None = None, year_to: int | None = None, exclude_track: int | None = None,
            ef_search: int = 40) -> list[dict[str, Any]]:
    """The k tracks whose `model` embedding is nearest to `vector` (shape (384,), L2-normalised like the
    stored ones), best first: dicts with track_id, title, artist, year, url, score. Fewer than k only when
    fewer than k tracks pass the filters. `year_*` filter on the dataset's release year (tracks without one
    are left out by a year filter)."""
    register_vector(conn)
    with conn.transaction():
        _scan_settings(conn, ef_search)
        rows = conn.execute(HITS_SQL, {  # type: ignore[arg-type]
            "q": np.asarray(vector, dtype=np.float32), "model": model, "artist": artist,
            "year_from": year_from, "year_to": year_to, "exclude": exclude_track, "k": k,
        }).fetchall()
    return [{"track_id": int(i), "title": title, "artist": name, "year": year, "url": url, "score": float(score)}
            for i, title, name, year, url, score in rows]


def track_vector(conn: psycopg.Connection, track_id: int, model: str) -> np.ndarray | None:
    """The stored `model` embedding of a track, or None when the track has none (unknown id, or a track the
    embed stage did not cover)."""
    register_vector(conn)
    row = conn.execute("SELECT embedding FROM embeddings WHERE track_id = %s AND model = %s",
                       (track_id, model)).fetchone()
    return None if row is None else np.asarray(row[0].to_numpy(), dtype=np.float32)


def similar(conn: psycopg.Connection, track_id: int, model: str, k: int, ef_search: int = 40) -> list[dict[str, Any]]:
    """The k nearest tracks to track `track_id`, itself excluded. Raises LookupError naming the id when the
    track has no stored embedding."""
    vector = track_vector(conn, track_id, model)
    if vector is None:
        raise LookupError(f"track_id {track_id} is not in the search index: use a track_id returned by /search")
    return nearest(conn, vector, model, k, exclude_track=track_id, ef_search=ef_search)
