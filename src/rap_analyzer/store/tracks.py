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
        with conn.cursor() as cur:
            cur.executemany(_UPSERT_TRACK, rows)
    return len(rows)


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
