"""Spotify enrichment of stored tracks over recorded payloads: right matches stored, wrong artists recorded
unmatched, and a second run asks Spotify nothing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from helpers import FORBIDDEN, make_enricher, spotify_routes
from http_replay import ReplayServer, Response

from rap_analyzer.errors import AuthError
from rap_analyzer.scrape.enrich import enrich_tracks
from rap_analyzer.store.records import TrackRecord, content_hash
from rap_analyzer.store.tracks import upsert_tracks


def track(key: str, artist: str, title: str) -> TrackRecord:
    text = f"{title} lyrics"
    return TrackRecord(source_key=key, source="dump", title=title, artist=artist, lyrics_raw=text,
                       lyrics_clean=text, content_hash=content_hash(text))


def test_enrichment_stores_matches_and_unmatched_and_resumes(db: psycopg.Connection, shared_dir: Path) -> None:
    upsert_tracks(db, [track("genius:1", "Mark Ronson", "Uptown Funk (feat. Bruno Mars)"),
                       track("genius:2", "Cyndi Lauper", "Uptown Girl")])
    db.commit()
    keys = ["genius:1", "genius:2"]
    replay = spotify_routes(shared_dir / "fixtures" / "spotify_api", **{"/v1/audio-features/": FORBIDDEN})
    with ReplayServer(replay) as server:
        enricher = make_enricher(server)
        first = enrich_tracks(db, enricher, keys, progress=False)
        searches = len(server.requests_to("/v1/search"))
        second = enrich_tracks(db, enricher, keys, progress=False)
        assert len(server.requests_to("/v1/search")) == searches  # nothing asked again
    assert first == {"already_done": 0, "matched": 1, "unmatched": 1}
    assert second == {"already_done": 2}
    rows = db.execute(
        "SELECT t.source_key, m.matched, m.spotify_id, m.popularity, m.score FROM spotify_matches m "
        "JOIN tracks t ON t.id = m.track_id ORDER BY t.source_key").fetchall()
    assert rows[0][:4] == ("genius:1", True, "4rmPQGwcLQjCoFq5NrTA0D", 88)
    features = db.execute("SELECT audio_features, audio_features_status FROM spotify_matches").fetchall()
    assert (None, "unavailable") in features  # a 403 on audio features: unavailable, not a failure
    assert rows[1][:3] == ("genius:2", False, None) and 0 < rows[1][4] < 0.5  # best rejected candidate's score


def test_refused_credentials_stop_the_run_without_rows(db: psycopg.Connection, shared_dir: Path) -> None:
    upsert_tracks(db, [track("genius:1", "Mark Ronson", "Uptown Funk"),
                       track("genius:2", "Cyndi Lauper", "Uptown Girl")])
    db.commit()
    refused = Response(401, {"error": "invalid_client", "error_description": "Invalid client"})
    replay = spotify_routes(shared_dir / "fixtures" / "spotify_api", **{"POST /api/token": refused})
    server = ReplayServer(replay)
    with server, pytest.raises(AuthError, match="SPOTIFY_CLIENT_ID / SPOTIFY_CLIENT_SECRET"):
        enrich_tracks(db, make_enricher(server), ["genius:1", "genius:2"], progress=False)
    assert len(server.requests_to("/api/token")) == 1 and server.requests_to("/v1/search") == []
    assert db.execute("SELECT count(*) FROM spotify_matches").fetchone() == (0,)
