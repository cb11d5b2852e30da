"""The index stage and semantic search: reruns embed only new or changed texts, the HNSW index follows params, a
filtered search returns k rows when k exist (exact search over the filtered rows is the oracle), and the ONNX
export agrees with torch on real lyrics."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
import redis
from helpers import params_with
from pgvector.psycopg import register_vector

from rap_analyzer.config import Params
from rap_analyzer.models.embeddings import (
    DIMENSION,
    MIN_AGREEMENT,
    embed_texts,
    load_model,
    model_key,
)
from rap_analyzer.scrape.sources import SourceItem, iter_dump_records
from rap_analyzer.stages import index as index_stage
from rap_analyzer.store.records import TrackRecord, content_hash
from rap_analyzer.store.search import NEAREST_SQL, hnsw_settings, hybrid, nearest
from rap_analyzer.store.tracks import upsert_tracks

TEXTS = {
    "genius:1": "money in the bank, cars and jewels, I'm getting rich",
    "genius:2": "cash in my account, diamonds on my wrist, I'm wealthy now",
    "genius:3": "the rain falls softly on the quiet autumn garden",
    "genius:4": "money in the bank, cars and jewels, I'm getting rich",  # genius:1's text on another track
}


@pytest.fixture
def stage_params(tmp_path: Path, db_url: str, redis_server_url: str, redis_client: redis.Redis,
                 monkeypatch: pytest.MonkeyPatch) -> Params:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_server_url)
    return params_with({"paths": {"data_dir": str(tmp_path / "data")}, "embed": {"backend": "torch"},
                        "index": {"batch_size": 2}})


def store_corpus(conn: psycopg.Connection, texts: dict[str, str], path: Path) -> Path:
    upsert_tracks(conn, [TrackRecord(source_key=k, source="dump", title=k, artist="A", lyrics_raw=t,
                                     lyrics_clean=t, content_hash=content_hash(t)) for k, t in texts.items()])
    conn.commit()
    pd.DataFrame({"source_key": list(texts), "lyrics_clean": list(texts.values())}).to_parquet(path)
    return path


def run_stage(params: Params, corpus: Path, tmp_path: Path) -> dict:
    return index_stage.run(params, corpus, tmp_path / "index.json", tmp_path / "timings.json", progress=False)


@pytest.mark.slow
def test_reruns_embed_only_new_or_changed_texts(stage_params: Params, db: psycopg.Connection,
                                                tmp_path: Path) -> None:
    corpus = store_corpus(db, TEXTS, tmp_path / "corpus.parquet")
    first = run_stage(stage_params, corpus, tmp_path)
    assert (first["tracks"], first["embedded"], first["reused"]) == (4, 3, 1)  # genius:4 reuses genius:1's text
    metrics = json.loads((tmp_path / "index.json").read_text())
    again = run_stage(stage_params, corpus, tmp_path)
    assert (again["embedded"], again["reused"]) == (0, 4)
    assert json.loads((tmp_path / "index.json").read_text()) == metrics  # metrics compare exactly on a rerun

    changed = {**TEXTS, "genius:3": "a completely new verse about the city at night"}
    third = run_stage(stage_params, store_corpus(db, changed, tmp_path / "corpus.parquet"), tmp_path)
    assert (third["embedded"], third["reused"]) == (1, 3)
    register_vector(db)
    rows = dict(db.execute("SELECT t.source_key, e.embedding FROM embeddings e JOIN tracks t ON t.id = e.track_id "
                           "WHERE e.model = %s", (model_key(stage_params.embed),)).fetchall())
    # The oracle: sentence-transformers itself, on the texts as they are now.
    reference = load_model(stage_params.embed.model, stage_params.embed.max_seq_length).encode(
        list(changed.values()), normalize_embeddings=True)
    for key, vector in zip(changed, reference, strict=True):
        np.testing.assert_allclose(rows[key].to_numpy(), vector, atol=1e-5)


def test_hnsw_index_follows_params(stage_params: Params, db: psycopg.Connection, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = store_corpus(db, {}, tmp_path / "corpus.parquet")
    assert hnsw_settings(db) == {"m": 16, "ef_construction": 64}  # the migration's index: pgvector's defaults
    first = run_stage(stage_params, corpus, tmp_path)
    assert first["hnsw_build_s"] is None  # already right
    other = params_with({**stage_params.model_dump(mode="json"), "index": {"m": 8, "ef_construction": 32}})
    second = run_stage(other, corpus, tmp_path)
    assert second["hnsw_build_s"] is not None and hnsw_settings(db) == {"m": 8, "ef_construction": 32}
    definition = db.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'embeddings_hnsw_idx'").fetchone()
    assert "hnsw (embedding vector_cosine_ops)" in definition[0]  # type: ignore[index]


N_TRACKS, N_ARTISTS, K = 2000, 50, 10


@pytest.fixture
def searchable(db: psycopg.Connection) -> tuple[np.ndarray, pd.DataFrame]:
    """2,000 tracks of 50 artists with random unit vectors (HNSW at its weakest: no clusters) and years."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(N_TRACKS, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    meta = pd.DataFrame({"source_key": [f"genius:{i}" for i in range(N_TRACKS)],
                         "artist": [f"Artist {i % N_ARTISTS}" for i in range(N_TRACKS)],
                         "year": [1980 + (i * 7) % 40 for i in range(N_TRACKS)]})
    upsert_tracks(db, [TrackRecord(source_key=r.source_key, source="dump", title=r.source_key, artist=r.artist,
                                   lyrics_raw="x", lyrics_clean="x", content_hash="h", release_date=date(r.year, 6, 1))
                       for r in meta.itertuples()])
    register_vector(db)
    ids = dict(db.execute("SELECT source_key, id FROM tracks").fetchall())
    with db.cursor() as cur:
        cur.executemany("INSERT INTO embeddings (track_id, model, text_hash, embedding) VALUES (%s, 'm', 'h', %s)",
                        [(ids[k], v) for k, v in zip(meta["source_key"], vectors, strict=True)])
    db.commit()
    return vectors, meta


def exact(vectors: np.ndarray, meta: pd.DataFrame, query: np.ndarray, mask: np.ndarray, k: int) -> list[str]:
    scores = np.where(mask, vectors @ query, -np.inf)
    order = np.argsort(-scores, kind="stable")[:min(k, int(mask.sum()))]
    return list(meta["source_key"].to_numpy()[order])


def test_filtered_search_returns_k_rows_when_k_exist(db: psycopg.Connection,
                                                     searchable: tuple[np.ndarray, pd.DataFrame]) -> None:
    vectors, meta = searchable
    query = vectors[5] + 0.1 * vectors[6]
    query /= np.linalg.norm(query)
    artist = meta["artist"] == "Artist 3"  # 40 of 2,000 tracks
    # Without iterative scans, ef_search candidates are filtered after the scan: the filter starves the result.
    # (Scans and sorts off: on 2,000 rows the planner would rather sort them all, and never touch HNSW.)
    register_vector(db)
    with db.transaction():
        db.execute("SET LOCAL enable_seqscan = off")
        db.execute("SET LOCAL enable_sort = off")
        db.execute("SET LOCAL hnsw.iterative_scan = off")
        db.execute("SET LOCAL hnsw.ef_search = 10")
        sql = ("SELECT t.id FROM embeddings e JOIN tracks t ON t.id = e.track_id JOIN artists a "
               "ON a.id = t.artist_id WHERE a.name = 'Artist 3' ORDER BY e.embedding <=> %s LIMIT 10")
        plan = "\n".join(row[0] for row in db.execute("EXPLAIN " + sql, (query,)))
        plain = db.execute(sql, (query,)).fetchall()
    assert "embeddings_hnsw_idx" in plan and len(plain) < K

    with db.transaction():  # the same HNSW path, with nearest()'s iterative scan
        db.execute("SET LOCAL enable_seqscan = off")
        db.execute("SET LOCAL enable_sort = off")
        args = {"q": query, "model": "m", "artist": "artist 3", "year_from": None, "year_to": None,
                "exclude": None, "k": K}
        plan = "\n".join(row[0] for row in db.execute("EXPLAIN " + NEAREST_SQL, args))
        hits = nearest(db, query, "m", K, artist="artist 3", ef_search=10)
    assert "embeddings_hnsw_idx" in plan
    assert len(hits) == K and {h["artist"] for h in hits} == {"Artist 3"}
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    truth = exact(vectors, meta, query, artist.to_numpy(), K)
    assert len(set(truth) & {h["source_key"] for h in hits}) >= 9  # recall@10 against exact search

    # A year range that exactly k tracks pass: all of them, whatever HNSW would rank.
    years = meta["year"].to_numpy()
    lone = np.flatnonzero(years == 1985)[:K]
    with db.transaction():
        db.execute("UPDATE tracks SET release_date = '1975-01-01' WHERE source_key = ANY(%s)",
                   (list(meta["source_key"].to_numpy()[lone]),))
    exactly_k = nearest(db, query, "m", K, year_from=1975, year_to=1975, ef_search=10)
    assert {h["source_key"] for h in exactly_k} == set(meta["source_key"].to_numpy()[lone])
    fewer = nearest(db, query, "m", K, artist="Artist 3", year_from=1975, year_to=1975, ef_search=10)
    expected = set(meta["source_key"].to_numpy()[lone]) & set(meta["source_key"][artist])
    assert {h["source_key"] for h in fewer} == expected and len(fewer) < K


def test_hybrid_search_finds_a_song_by_its_exact_words(db: psycopg.Connection,
                                                       searchable: tuple[np.ndarray, pd.DataFrame]) -> None:
    vectors, meta = searchable
    target = meta["source_key"][1234]
    db.execute("UPDATE tracks SET lyrics_clean = %s WHERE source_key = %s",
               ("the quick brown fox jumps over the lazy dog\nwhile seven zebras juggle purple melons", target))
    db.commit()
    query = vectors[99]  # a vector far from the target's: only the words can find it
    semantic = [h["source_key"] for h in nearest(db, query, "m", K)]
    found = hybrid(db, query, "seven zebras juggle purple melons", "m", K)
    assert target not in semantic and target in [h["source_key"] for h in found]
    assert len(found) == K and [h["score"] for h in found] == sorted((h["score"] for h in found), reverse=True)
    # Filters hold on both rankings: the target's artist only.
    within = hybrid(db, query, "seven zebras juggle purple melons", "m", K, artist=meta["artist"][1234])
    assert len(within) == K and {h["artist"] for h in within} == {meta["artist"][1234]}
    assert within[0]["source_key"] == target  # first by its words; all 40 of the artist's tracks ranked by meaning
    # Reciprocal rank fusion by hand: a rank-r hit in one ranking only scores 1 / (60 + r).
    assert within[0]["score"] >= 1 / 61


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "torch_bf16"])
def test_faster_backends_agree_with_torch_on_real_lyrics(backend: str, params: Params, shared_dir: Path,
                                                         tmp_path: Path) -> None:
    items = iter_dump_records([shared_dir / "corpus/genius/rap"], min_words=params.scrape.min_words)
    texts = [i.record.lyrics_clean for i in items if isinstance(i, SourceItem) and not i.reject_reason][::40]
    other = params.embed.model_copy(update={"backend": backend})
    vectors = embed_texts(texts, other, progress=False, model_dir=tmp_path)
    if backend == "onnx":
        assert (tmp_path / "onnx" / "all-MiniLM-L6-v2.onnx").is_file()
    # The oracle: sentence-transformers' own float32 torch encode, not the code path under test.
    reference = load_model(params.embed.model, params.embed.max_seq_length).encode(
        texts, batch_size=8, normalize_embeddings=True)
    cosine = np.sum(vectors * reference, axis=1)
    assert len(texts) >= 20 and cosine.min() >= MIN_AGREEMENT
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
