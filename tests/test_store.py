from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import psycopg
import pytest
import redis

from rap_analyzer.store import services
from rap_analyzer.store.cache import JsonCache, KeySet
from rap_analyzer.store.migrate import available_migrations, migrate
from rap_analyzer.store.records import TrackRecord, content_hash
from rap_analyzer.store.search import nearest
from rap_analyzer.store.tracks import tracks_frame, upsert_tracks


def make_record(n: int, artist: str = "Artist A") -> TrackRecord:
    text = f"line one of song {n}\nline two of song {n}"
    return TrackRecord(
        source_key=f"genius:{n}", source="dump", title=f"Song {n}", artist=artist, lyrics_raw=text,
        lyrics_clean=text, genius_id=n, featured_artists=["Guest"], pageviews=100 * n, content_hash=content_hash(text),
    )


def test_migrations_are_idempotent_and_create_pgvector_schema(db: psycopg.Connection) -> None:
    assert migrate(db) == []  # the fixture already migrated
    versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [v for v, _, _ in available_migrations()]
    assert db.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone() is not None
    index = db.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'embeddings_hnsw_idx'").fetchone()
    assert index is not None and "hnsw" in index[0] and "vector_cosine_ops" in index[0]


def test_upsert_updates_in_place_without_duplicates(db: psycopg.Connection) -> None:
    upsert_tracks(db, [make_record(1), make_record(2, artist="Artist B")])
    upsert_tracks(db, [replace(make_record(1), pageviews=5), make_record(3)])
    db.commit()
    frame = tracks_frame(db)
    assert list(frame["source_key"]) == ["genius:1", "genius:2", "genius:3"]
    assert frame.set_index("source_key").loc["genius:1", "pageviews"] == 5
    assert db.execute("SELECT count(*) FROM artists").fetchone() == (2,)
    assert frame.loc[0, "featured_artists"] == ["Guest"]


def test_nearest_neighbour_search_scores_by_cosine_similarity(db: psycopg.Connection) -> None:
    # Through the project's search (store.search.nearest), not a query written here; the oracle is numpy's cosine.
    upsert_tracks(db, [make_record(1), make_record(2), make_record(3)])
    ids = dict(db.execute("SELECT source_key, id FROM tracks").fetchall())
    rng = np.random.default_rng(0)
    vectors = {f"genius:{n}": v / np.linalg.norm(v) for n, v in ((n, rng.normal(size=384)) for n in (1, 2, 3))}
    for key, vector in vectors.items():
        db.execute("INSERT INTO embeddings (track_id, model, text_hash, embedding) VALUES (%s, 'm', 'h', %s::vector)",
                   (ids[key], str(vector.tolist())))
    query = vectors["genius:2"] * 0.8 + vectors["genius:3"] * 0.2
    query /= np.linalg.norm(query)
    found = nearest(db, query, "m", k=3)
    expected = sorted(vectors, key=lambda key: -float(vectors[key] @ query))
    assert [hit["source_key"] for hit in found] == expected
    for hit in found:
        assert hit["score"] == pytest.approx(float(vectors[hit["source_key"]] @ query), abs=1e-5)
    assert nearest(db, query, "other-model", k=3) == []


def test_json_cache_honours_ttl(redis_client: redis.Redis) -> None:
    cache = JsonCache(redis_client, "test", ttl_s=1)
    cache.set("k", {"songs": [1, 2]})
    assert cache.get("k") == {"songs": [1, 2]}
    assert 0 < cache.ttl("k") <= 1
    time.sleep(1.2)
    assert cache.get("k") is None


def test_key_set(redis_client: redis.Redis) -> None:
    seen = KeySet(redis_client, "test:seen")
    seen.add("a", "b")
    assert "a" in seen and "c" not in seen and len(seen) == 2


def test_wrong_database_url_gives_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:hunter2@127.0.0.1:1/nope")
    with pytest.raises(services.ServiceUnavailableError) as err, services.connect():
        pass
    message = str(err.value)
    assert "DATABASE_URL" in message and "hunter2" not in message


def test_wrong_redis_url_gives_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    with pytest.raises(services.ServiceUnavailableError) as err:
        services.redis_client()
    message = str(err.value)
    assert "REDIS_URL" in message and "hunter2" not in message
