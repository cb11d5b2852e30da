"""Spotify enrichment of stored tracks: one `spotify_matches` row per track, matched or not.

Resumable: tracks that already have a row are skipped, and each row is committed as it is written. A track
whose lookup fails for good is counted and left without a row, so the next run tries it again; refused
credentials (`AuthError`) stop the run instead, since every other track would fail the same way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import psycopg
from psycopg.types.json import Jsonb
from tqdm.auto import tqdm

from rap_analyzer.errors import ApiError, AuthError
from rap_analyzer.scrape.spotify import SpotifyEnricher, SpotifyMatch

_PENDING = """
SELECT t.id, a.name, t.title, extract(year FROM t.release_date)::int
FROM tracks t JOIN artists a ON a.id = t.artist_id
LEFT JOIN spotify_matches m ON m.track_id = t.id
WHERE m.track_id IS NULL AND t.source_key = ANY(%s)
ORDER BY t.source_key
"""

_UPSERT = """
INSERT INTO spotify_matches (track_id, matched, score, spotify_id, name, artists, popularity, album, release_date,
                             audio_features, audio_features_status)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (track_id) DO NOTHING
"""


def store_match(conn: psycopg.Connection, track_id: int, match: SpotifyMatch) -> None:
    features = Jsonb(match.audio_features) if match.audio_features is not None else None
    conn.execute(_UPSERT, (track_id, match.matched, match.score, match.spotify_id, match.name, match.artists,
                           match.popularity, match.album, match.release_date, features,
                           match.audio_features_status))


def enrich_tracks(conn: psycopg.Connection, enricher: SpotifyEnricher, source_keys: Sequence[str],
                  progress: bool = True) -> dict[str, int]:
    """Match every listed track that has no row yet. Counts: matched, unmatched, failed, already_done."""
    pending = conn.execute(_PENDING, (list(source_keys),)).fetchall()
    counts: Counter[str] = Counter(already_done=len(source_keys) - len(pending))
    for track_id, artist, title, year in tqdm(pending, desc="spotify", unit="track", disable=not progress):
        try:
            match = enricher.match(artist, title, year)
        except AuthError:  # refused credentials fail every track alike: stop with the message saying what to fix
            raise
        except ApiError:  # retries ran out for this track; an open breaker (CircuitOpenError) stops the run
            counts["failed"] += 1
            continue
        store_match(conn, track_id, match)
        conn.commit()
        counts["matched" if match.matched else "unmatched"] += 1
    return dict(counts)
