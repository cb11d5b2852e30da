from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from rap_analyzer.config import EmbedParams
from rap_analyzer.models.embeddings import DIMENSION, embed_frame, nearest_tracks, store_embeddings
from rap_analyzer.store.records import TrackRecord, content_hash
from rap_analyzer.store.tracks import upsert_tracks

TEXTS = {
    "genius:1": "money in the bank, cars and jewels, I'm getting rich",
    "genius:2": "cash in my account, diamonds on my wrist, I'm wealthy now",
    "genius:3": "the rain falls softly on the quiet autumn garden",
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame({"source_key": list(TEXTS), "lyrics_clean": list(TEXTS.values())})


def test_embeddings_are_normalised_and_semantic(frame: pd.DataFrame) -> None:
    rows, embedded = embed_frame(frame, EmbedParams(), progress=False)
    assert embedded == 3
    vectors = np.stack(rows["embedding"].to_numpy())
    assert vectors.shape == (3, DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2  # money/cash closer than money/garden


def test_unchanged_texts_are_not_embedded_again(frame: pd.DataFrame) -> None:
    first, _ = embed_frame(frame, EmbedParams(), progress=False)
    changed = frame.copy()
    changed.loc[2, "lyrics_clean"] = "a completely new verse about the city at night"
    second, embedded = embed_frame(changed, EmbedParams(), previous=first, progress=False)
    assert embedded == 1
    assert second.loc[0, "embedding"] == first.loc[0, "embedding"]
    assert second.loc[2, "embedding"] != first.loc[2, "embedding"]


def test_pgvector_round_trip_finds_the_nearest_song(frame: pd.DataFrame, db: psycopg.Connection) -> None:
    upsert_tracks(db, [
        TrackRecord(source_key=k, source="dump", title=k, artist="A", lyrics_raw=t, lyrics_clean=t,
                    content_hash=content_hash(t))
        for k, t in TEXTS.items()
    ])
    rows, _ = embed_frame(frame, EmbedParams(), progress=False)
    assert store_embeddings(db, rows, "all-MiniLM-L6-v2") == 3
    query = np.asarray(rows.loc[1, "embedding"], dtype=np.float32)
    hits = nearest_tracks(db, query, "all-MiniLM-L6-v2", k=2)
    assert [key for key, _ in hits] == ["genius:2", "genius:1"]
    assert hits[0][1] == pytest.approx(0.0, abs=1e-5)
