"""Semantic and hybrid search against hand-made data whose answers are known without the code under test: unit
vectors on an arc, so the cosine order is track order (numpy computes it); reciprocal rank fusion written out
(1 / (60 + rank) per ranking, Cormack et al. 2009); identical lyrics on the tracks a phrase finds, so the
full-text ranking is their id order (equal `ts_rank_cd`, the query's documented tiebreak)."""

from __future__ import annotations

import math
import time
from datetime import date
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from rap_analyzer.models.embeddings import DIMENSION
from rap_analyzer.store.records import TrackRecord
from rap_analyzer.store.search import (
    NEAREST_SQL,
    ensure_hnsw,
    hnsw_settings,
    hybrid,
    nearest,
    scan_settings,
    similar,
)
from rap_analyzer.store.tracks import upsert_tracks

MODEL = "m"
N = 52  # two more than hybrid's default 50 candidates: ranks 50 (in) and 51 (out) both exist
CANDIDATES = 50
RRF_K = 60  # the paper's constant, as the module's docstring states
ZEBRAS = "seven zebras juggle purple melons"  # on semantic ranks 50 and 51: the candidate boundary
LANTERNS = "copper lanterns drift over harbour"  # on years 2000, 2001, 2003, 2004: the year bounds
PHRASES = {ZEBRAS: (49, 50), LANTERNS: (0, 1, 3, 4)}
NO_DATE = 51  # left out by any year filter


def unit(angle: float) -> np.ndarray:
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[0], vector[1] = math.cos(angle), math.sin(angle)
    return vector


QUERY = unit(0.0)


def year_of(i: int) -> int | None:
    return None if i == NO_DATE else 2000 + i % 5


def lyrics_of(i: int) -> str:
    return next((p for p, holders in PHRASES.items() if i in holders), "plain filler words about nothing")


@pytest.fixture
def corpus(db: psycopg.Connection) -> list[dict[str, Any]]:
    """N tracks, track i at angle 0.02 i from the query (semantic rank i + 1), as the dicts search returns."""
    records = [TrackRecord(source_key=f"genius:{i}", source="dump", title=f"Song {i}", artist=f"Artist {i % 3}",
                           lyrics_raw=lyrics_of(i), lyrics_clean=lyrics_of(i), content_hash=f"h{i}",
                           release_date=None if year_of(i) is None else date(year_of(i), 6, 1),  # type: ignore[arg-type]
                           url=f"https://genius.com/song-{i}") for i in range(N)]
    upsert_tracks(db, records)
    ids = dict(db.execute("SELECT source_key, id FROM tracks").fetchall())
    register_vector(db)
    with db.cursor() as cur:
        cur.executemany("INSERT INTO embeddings (track_id, model, text_hash, embedding) VALUES (%s, %s, 'h', %s)",
                        [(ids[r.source_key], MODEL, unit(0.02 * i)) for i, r in enumerate(records)])
    db.commit()
    return [{"track_id": ids[r.source_key], "source_key": r.source_key, "title": r.title, "artist": r.artist,
             "year": year_of(i), "url": r.url, "vector": unit(0.02 * i), "lyrics": r.lyrics_clean}
            for i, r in enumerate(records)]


def passes(row: dict[str, Any], year_from: int | None, year_to: int | None) -> bool:
    if year_from is None and year_to is None:
        return True
    return row["year"] is not None and (year_from is None or row["year"] >= year_from) and (
        year_to is None or row["year"] <= year_to)


def exact_nearest(rows: list[dict[str, Any]], k: int, year_from: int | None = None,
                  year_to: int | None = None) -> list[dict[str, Any]]:
    kept = [r for r in rows if passes(r, year_from, year_to)]
    scores = np.array([float(r["vector"] @ QUERY) for r in kept])
    return [{**public(kept[j]), "score": scores[j]} for j in np.argsort(-scores, kind="stable")[:k]]


def public(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("track_id", "source_key", "title", "artist", "year", "url")}


def fused(rows: list[dict[str, Any]], phrase: str, k: int, year_from: int | None = None,
          year_to: int | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion by its definition, over the exact cosine ranking (`CANDIDATES` long) and the rows
    holding `phrase` in id order; best first, ties by id."""
    semantic = [r["track_id"] for r in exact_nearest(rows, CANDIDATES, year_from, year_to)]
    lexical = sorted(r["track_id"] for r in rows if r["lyrics"] == phrase and passes(r, year_from, year_to))
    scores: dict[int, float] = {}
    for ranking in (semantic, lexical):
        for position, track_id in enumerate(ranking):
            scores[track_id] = scores.get(track_id, 0.0) + 1 / (RRF_K + position + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]


def without_score(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in hit.items() if key != "score"} for hit in hits]


def assert_ranked(hits: list[dict[str, Any]], expected: list[tuple[int, float]]) -> None:
    assert [h["track_id"] for h in hits] == [i for i, _ in expected]
    assert [h["score"] for h in hits] == pytest.approx([score for _, score in expected], rel=1e-12)


def test_nearest_returns_every_field_of_the_k_nearest(db: psycopg.Connection, corpus: list[dict[str, Any]]) -> None:
    for k in (1, 3):
        hits = nearest(db, QUERY, MODEL, k)
        truth = exact_nearest(corpus, k)
        assert without_score(hits) == without_score(truth)
        assert [h["score"] for h in hits] == pytest.approx([t["score"] for t in truth], abs=1e-6)
    # The track without a release date comes back with year None.
    far = nearest(db, corpus[NO_DATE]["vector"], MODEL, 1)
    assert without_score(far) == [public(corpus[NO_DATE])]


def test_year_bounds_are_inclusive(db: psycopg.Connection, corpus: list[dict[str, Any]]) -> None:
    hits = nearest(db, QUERY, MODEL, N, year_from=2001, year_to=2003)
    years = [h["year"] for h in hits]
    # At the bounds (2001, 2003) and inside (2002) kept; just outside (2000, 2004) and undated left out.
    assert set(years) == {2001, 2002, 2003}
    assert without_score(hits) == without_score(exact_nearest(corpus, N, 2001, 2003))


def test_hybrid_scores_are_reciprocal_rank_fusion(db: psycopg.Connection, corpus: list[dict[str, Any]]) -> None:
    hits = hybrid(db, QUERY, ZEBRAS, MODEL, 4)
    rank50, rank51, first, second = (corpus[i] for i in (49, 50, 0, 1))
    # Rank 50 is a candidate: words (rank 1) plus meaning (rank 50). Rank 51 is not: words alone (rank 2), tied
    # with the second nearest by meaning, and after it by id.
    assert [h["track_id"] for h in hits] == [r["track_id"] for r in (rank50, first, second, rank51)]
    assert [h["score"] for h in hits] == pytest.approx([1 / 61 + 1 / 110, 1 / 61, 1 / 62, 1 / 62], rel=1e-12)
    assert_ranked(hits, fused(corpus, ZEBRAS, 4))
    # The row found by its words alone comes from a second query: every field as stored.
    assert hits[3] == {**public(rank51), "score": pytest.approx(1 / 62, rel=1e-12)}
    assert hits[0] == {**public(rank50), "score": pytest.approx(1 / 61 + 1 / 110, rel=1e-12)}
    top = hybrid(db, QUERY, ZEBRAS, MODEL, 1)
    assert_ranked(top, [(rank50["track_id"], 1 / 61 + 1 / 110)])


def test_hybrid_year_filters_hold_on_both_rankings(db: psycopg.Connection, corpus: list[dict[str, Any]]) -> None:
    hits = hybrid(db, QUERY, LANTERNS, MODEL, N, year_from=2001, year_to=2003)
    expected = fused(corpus, LANTERNS, N, 2001, 2003)
    assert_ranked(hits, expected)
    by_id = {r["track_id"]: r for r in corpus}
    assert without_score(hits) == [public(by_id[i]) for i, _ in expected]
    # The phrase's tracks of 2000 and 2004 (just outside) are the nearest by meaning: left out all the same.
    assert {corpus[0]["track_id"], corpus[4]["track_id"]}.isdisjoint(h["track_id"] for h in hits)
    assert {h["year"] for h in hits} == {2001, 2002, 2003}


class SettingsSpy(psycopg.Connection):  # type: ignore[type-arg]
    """A real connection that notes the HNSW settings in force each time the search query runs."""

    seen: list[tuple[str, str]]

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        cursor = super().execute(query, params, **kwargs)
        if query == NEAREST_SQL:
            self.seen.append(super().execute("SELECT current_setting('hnsw.ef_search'), "
                                             "current_setting('hnsw.iterative_scan')").fetchone())  # type: ignore[arg-type]
        return cursor


def test_hnsw_settings_reach_the_search_query(db_url: str, corpus: list[dict[str, Any]]) -> None:
    with SettingsSpy.connect(db_url) as spy:
        spy.seen = []
        with spy.transaction():
            scan_settings(spy, 10, iterative=False)
            assert spy.execute("SELECT current_setting('hnsw.ef_search'), "
                               "current_setting('hnsw.iterative_scan')").fetchone() == ("10", "off")
        nearest(spy, QUERY, MODEL, 1)
        nearest(spy, QUERY, MODEL, 1, ef_search=11)
        similar(spy, corpus[0]["track_id"], MODEL, 1)
        similar(spy, corpus[0]["track_id"], MODEL, 1, ef_search=100)
        hybrid(spy, QUERY, ZEBRAS, MODEL, 1)
        hybrid(spy, QUERY, ZEBRAS, MODEL, 1, ef_search=77)
        # pgvector's default ef_search (40) unless told otherwise, and always iterative scans.
        assert spy.seen == [(ef, "relaxed_order") for ef in ("40", "11", "40", "100", "40", "77")]


def test_ensure_hnsw_builds_only_when_the_settings_differ(db: psycopg.Connection) -> None:
    assert hnsw_settings(db, "probe_idx") is None
    started = time.perf_counter()
    seconds = ensure_hnsw(db, 8, 32, index="probe_idx")
    elapsed = time.perf_counter() - started
    assert seconds is not None and 0 < seconds <= elapsed  # the build's own time, measured around the call
    assert hnsw_settings(db, "probe_idx") == {"m": 8, "ef_construction": 32}
    assert ensure_hnsw(db, 8, 32, index="probe_idx") is None  # already right: judged on this index, not the default
    for m, ef_construction in ((9, 32), (9, 33)):  # one setting off by one is enough to rebuild
        assert ensure_hnsw(db, m, ef_construction, index="probe_idx") is not None
        assert hnsw_settings(db, "probe_idx") == {"m": m, "ef_construction": ef_construction}
    assert hnsw_settings(db) == {"m": 16, "ef_construction": 64}  # the migration's index, untouched
