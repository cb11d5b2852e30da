"""Reading and writing tracks: batched upserts keyed on `source_key`, so re-imports never duplicate rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import psycopg

from rap_analyzer.store.records import TRACK_COLUMNS, TrackRecord

_TRACK_FIELDS = [c for c in TRACK_COLUMNS if c != "artist"]

_UPSERT_TRACK = f"""
INSERT INTO tracks (artist_id, {", ".join(_TRACK_FIELDS)})
VALUES (%(artist_id)s, {", ".join(f"%({c})s" for c in _TRACK_FIELDS)})
ON CONFLICT (source_key) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in ["artist_id", *_TRACK_FIELDS] if c != "source_key")},
    scraped_at = now()
"""


def instance_id(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()
    assert row is not None, "database not migrated"
    return str(row[0])


def upsert_artists(conn: psycopg.Connection, names: Iterable[str]) -> dict[str, int]:
    unique = sorted(set(names))
    if not unique:
        return {}
    conn.execute(
        "INSERT INTO artists (name) SELECT unnest(%s::text[]) ON CONFLICT (name) DO NOTHING", (unique,)
    )
    rows = conn.execute("SELECT name, id FROM artists WHERE name = ANY(%s)", (unique,)).fetchall()
    return dict(rows)


def upsert_tracks(conn: psycopg.Connection, records: Sequence[TrackRecord]) -> int:
    """Insert or update a batch in one transaction; returns the number of rows written."""
    if not records:
        return 0
    with conn.transaction():
        artist_ids = upsert_artists(conn, (r.artist for r in records))
        rows = []
        for record in records:
            row = record.as_row()
            row["artist_id"] = artist_ids[row.pop("artist")]
            rows.append(row)
        # A record stored as an alias by an earlier run is a track now.
        conn.execute("DELETE FROM track_aliases WHERE source_key = ANY(%s)", ([r["source_key"] for r in rows],))
        with conn.cursor() as cur:
            cur.executemany(_UPSERT_TRACK, rows)
    return len(rows)


def store_aliases(conn: psycopg.Connection, aliases: Sequence[tuple[str, TrackRecord, str]]) -> int:
    """Record `(track source_key, alias record, rule)` rows in `track_aliases`, inside the caller's transaction.
    A record that is an alias now and was stored as a track by an earlier run (another source set, another
    winner) loses its track row; a track that was an alias before loses its alias row. Returns rows written."""
    if not aliases:
        return 0
    ids = track_ids(conn, sorted({track_key for track_key, _, _ in aliases}))
    missing = {track_key for track_key, _, _ in aliases} - ids.keys()
    if missing:
        raise LookupError(f"aliases of tracks that are not stored: {sorted(missing)[:3]}; store the tracks first")
    alias_keys = [record.source_key for _, record, _ in aliases]
    conn.execute("DELETE FROM tracks WHERE source_key = ANY(%s)", (alias_keys,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO track_aliases (source_key, track_id, source, artist, title, content_hash, rule) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (source_key) DO UPDATE SET "
            "track_id = EXCLUDED.track_id, source = EXCLUDED.source, artist = EXCLUDED.artist, "
            "title = EXCLUDED.title, content_hash = EXCLUDED.content_hash, rule = EXCLUDED.rule",
            [(r.source_key, ids[track_key], r.source, r.artist, r.title, r.content_hash, rule)
             for track_key, r, rule in aliases],
        )
    return len(aliases)


def aliases_frame(conn: psycopg.Connection) -> pd.DataFrame:
    """Every alias with its track's source_key, ordered by alias source_key."""
    rows = conn.execute(
        "SELECT a.source_key, t.source_key, a.source, a.artist, a.title, a.content_hash, a.rule "
        "FROM track_aliases a JOIN tracks t ON t.id = a.track_id ORDER BY a.source_key"
    ).fetchall()
    return pd.DataFrame(rows, columns=["source_key", "track_key", "source", "artist", "title", "content_hash", "rule"])


def tracks_frame(conn: psycopg.Connection, source_keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Tracks as a DataFrame with the TrackRecord columns, ordered by source_key (deterministic output)."""
    columns = ", ".join(f"t.{c}" if c != "artist" else "a.name AS artist" for c in TRACK_COLUMNS)
    query = f"SELECT {columns} FROM tracks t JOIN artists a ON a.id = t.artist_id"
    args: tuple = ()
    if source_keys is not None:
        query += " WHERE t.source_key = ANY(%s)"
        args = (list(source_keys),)
    with conn.cursor() as cur:
        cur.execute(query + " ORDER BY t.source_key", args)
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=TRACK_COLUMNS)


def track_ids(conn: psycopg.Connection, source_keys: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT source_key, id FROM tracks WHERE source_key = ANY(%s)", (list(source_keys),)
    ).fetchall()
    return dict(rows)
