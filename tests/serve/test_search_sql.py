"""The search query against a real pgvector database, with the HNSW index forced: a selective filter still
returns the k true nearest rows (iterative index scans), where a plain HNSW scan returns fewer. Oracle: exact
cosine similarities in numpy."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from rap_analyzer.store.search import NEAREST_SQL, nearest, similar

MODEL = "test-model@256"
N_COMMON, N_RARE = 600, 6  # the rare artist's tracks are 1% of the index
EF_SEARCH = 10  # a plain scan sees about this many candidates before filtering


def _fill(conn: psycopg.Connection, rng: np.random.Generator) -> dict[int, tuple[str, np.ndarray]]:
    register_vector(conn)
    common = conn.execute("INSERT INTO artists (name) VALUES ('Common') RETURNING id").fetchone()[0]
    rare = conn.execute("INSERT INTO artists (name) VALUES ('Rare Artist') RETURNING id").fetchone()[0]
    rows = {}
    for i in range(N_COMMON + N_RARE):
        artist, name = (rare, "Rare Artist") if i >= N_COMMON else (common, "Common")
        track = conn.execute(
            "INSERT INTO tracks (source_key, artist_id, title, lyrics_raw, lyrics_clean, source, content_hash) "
            "VALUES (%s, %s, %s, 'x', 'x', 'dump', %s) RETURNING id", (f"k{i}", artist, f"t{i}", f"h{i}")).fetchone()[0]
        vector = rng.normal(size=384).astype(np.float32)
        vector /= np.linalg.norm(vector)
        conn.execute("INSERT INTO embeddings (track_id, model, text_hash, embedding) VALUES (%s, %s, 'h', %s)",
                     (track, MODEL, vector))
        rows[track] = (name, vector)
    conn.commit()
    return rows


def _brute(rows: dict[int, tuple[str, np.ndarray]], q: np.ndarray, k: int, artist: str | None = None,
           exclude: int | None = None) -> list[int]:
    ids = [t for t, (name, _) in rows.items() if (artist is None or name == artist) and t != exclude]
    sims = np.array([rows[t][1] @ q for t in ids])
    return [ids[i] for i in np.argsort(-sims, kind="stable")[:k]]


def test_filtered_search_returns_k_rows_through_the_index(db: psycopg.Connection) -> None:
    rows = _fill(db, np.random.default_rng(7))
    q = np.random.default_rng(8).normal(size=384).astype(np.float32)
    q /= np.linalg.norm(q)
    # As on a large table: the planner walks the HNSW index in distance order and filters as it goes.
    db.execute("SET enable_seqscan = off")
    db.execute("SET enable_sort = off")
    plan = "\n".join(r[0] for r in db.execute(
        "EXPLAIN " + NEAREST_SQL, {"q": q, "model": MODEL, "artist": "rare artist", "year_from": None, "year_to": None,
                            "exclude": None, "k": 5}).fetchall())
    assert "embeddings_hnsw_idx" in plan, plan

    hits = nearest(db, q, MODEL, k=5, artist="rare artist", ef_search=EF_SEARCH)
    assert [h["track_id"] for h in hits] == _brute(rows, q, 5, "Rare Artist")
    assert {h["artist"] for h in hits} == {"Rare Artist"}
    assert [h["score"] for h in hits] == pytest.approx([rows[h["track_id"]][1] @ q for h in hits], abs=1e-5)

    # The control: the same filter through a plain HNSW scan loses rows, so the check above can fail.
    with db.transaction():
        db.execute("SELECT set_config('hnsw.iterative_scan', 'off', true), set_config('hnsw.ef_search', %s, true)",
                   (str(EF_SEARCH),))
        plain = db.execute(
            "SELECT e.track_id FROM embeddings e JOIN tracks t ON t.id = e.track_id "
            "JOIN artists a ON a.id = t.artist_id WHERE a.name = 'Rare Artist' "
            "ORDER BY e.embedding <=> %s LIMIT 5", (q,)).fetchall()
    assert len(plain) < 5


def test_similar_excludes_the_track_itself(db: psycopg.Connection) -> None:
    rows = _fill(db, np.random.default_rng(9))
    track = next(iter(rows))
    hits = similar(db, track, MODEL, k=4, ef_search=100)
    assert [h["track_id"] for h in hits] == _brute(rows, rows[track][1], 4, exclude=track)
    with pytest.raises(LookupError, match="track_id"):
        similar(db, max(rows) + 1, MODEL, k=4)
