"""Sentence embeddings from the packaged MiniLM model: normalised, semantic, reused when unchanged, in pgvector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest
from helpers import params_with

from rap_analyzer.models.embeddings import (
    DIMENSION,
    embed_texts,
    encode_one,
    load_model,
    model_key,
    nearest_tracks,
    stored_vectors,
    sync_embeddings,
)
from rap_analyzer.store.records import TrackRecord, content_hash
from rap_analyzer.store.tracks import upsert_tracks

pytestmark = pytest.mark.slow  # loads the sentence-transformers model

TEXTS = {
    "genius:1": "money in the bank, cars and jewels, I'm getting rich",
    "genius:2": "cash in my account, diamonds on my wrist, I'm wealthy now",
    "genius:3": "the rain falls softly on the quiet autumn garden",
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame({"source_key": list(TEXTS), "lyrics_clean": list(TEXTS.values())})


def test_embeddings_are_normalised_and_semantic(frame: pd.DataFrame) -> None:
    vectors = embed_texts(list(frame["lyrics_clean"]), params_with().embed, progress=False)
    assert vectors.shape == (3, DIMENSION) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2  # money/cash closer than money/garden


def test_one_query_is_the_unit_vector_of_the_models_own_embedding() -> None:
    params = params_with().embed
    model = load_model(params.model, params.max_seq_length)
    raw = model.encode(TEXTS["genius:1"], normalize_embeddings=False)  # the model's own vector, unscaled
    vector = encode_one(model, TEXTS["genius:1"])
    assert vector.shape == (DIMENSION,) and vector.dtype == np.float32
    np.testing.assert_allclose(vector, raw / np.linalg.norm(raw), atol=1e-6)


def store_tracks(db: psycopg.Connection, texts: dict[str, str]) -> None:
    upsert_tracks(db, [
        TrackRecord(source_key=k, source="dump", title=k, artist="A", lyrics_raw=t, lyrics_clean=t,
                    content_hash=content_hash(t))
        for k, t in texts.items()
    ])
    db.commit()


def test_unchanged_texts_are_not_embedded_again(frame: pd.DataFrame, db: psycopg.Connection) -> None:
    params = params_with().embed
    store_tracks(db, TEXTS)
    first = sync_embeddings(db, frame, params, batch_size=2, progress=False)
    before = stored_vectors(db, list(TEXTS), model_key(params))
    changed = frame.copy()
    changed.loc[2, "lyrics_clean"] = "a completely new verse about the city at night"
    second = sync_embeddings(db, changed, params, batch_size=2, progress=False)
    after = stored_vectors(db, list(TEXTS), model_key(params))
    assert (first.embedded, second.embedded, second.reused) == (3, 1, 2)
    np.testing.assert_array_equal(after["genius:1"], before["genius:1"])
    assert not np.allclose(after["genius:3"], before["genius:3"])


def test_pgvector_round_trip_finds_the_nearest_song(frame: pd.DataFrame, db: psycopg.Connection) -> None:
    params = params_with().embed
    store_tracks(db, TEXTS)
    summary = sync_embeddings(db, frame, params, batch_size=8, progress=False)
    assert summary.embedded == 3 and summary.missing_from_database == []
    query = stored_vectors(db, ["genius:2"], model_key(params))["genius:2"]
    hits = nearest_tracks(db, query, model_key(params), k=2)
    assert [key for key, _ in hits] == ["genius:2", "genius:1"]
    assert hits[0][1] == pytest.approx(0.0, abs=1e-5)
