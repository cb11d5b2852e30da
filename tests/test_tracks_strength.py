"""Upsert semantics of `store.tracks`, read back with SELECTs written here (issue 16): a re-upserted track keeps its
row id and has every column replaced (NULLs and empty lists too) and its `scraped_at` renewed; an artist is one row
however often it is named; a batch is all or nothing; a record moving between track and alias loses its old row;
an alias of a track that is not stored is refused before anything changes."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import date

import psycopg
import pytest
from psycopg.rows import dict_row

from rap_analyzer.store.records import TrackRecord
from rap_analyzer.store.tracks import (
    aliases_frame,
    instance_id,
    store_aliases,
    track_ids,
    tracks_frame,
    upsert_artists,
    upsert_tracks,
)

OLD = TrackRecord(
    source_key="genius:1", source="dump", title="Old Title", artist="Old Artist", lyrics_raw="old raw",
    lyrics_clean="old clean", sections=["[Verse 1]"], genius_id=1, featured_artists=["F1"], producer_artists=["P1"],
    writer_artists=["W1"], album="Old Album", release_date=date(2001, 2, 3), release_date_raw="2001-02-03",
    url="https://genius.com/old", pageviews=10, annotation_count=1, pyongs_count=2, language="en",
    content_hash="h-old",
)
# Every field differs from OLD; several become NULL or empty, which must replace the old value, not keep it.
NEW = TrackRecord(
    source_key="genius:1", source="catalog", title="New Title", artist="New Artist", lyrics_raw="new raw",
    lyrics_clean="new clean", sections=[], genius_id=2, featured_artists=[], producer_artists=["P2", "P3"],
    writer_artists=[], album=None, release_date=None, release_date_raw=None, url=None, pageviews=20,
    annotation_count=None, pyongs_count=None, language=None, content_hash="h-new",
)
SELECT_ROW = (
    "SELECT t.source_key, t.source, t.title, a.name AS artist, t.lyrics_raw, t.lyrics_clean, t.sections, t.genius_id,"
    " t.featured_artists, t.producer_artists, t.writer_artists, t.album, t.release_date, t.release_date_raw, t.url,"
    " t.pageviews, t.annotation_count, t.pyongs_count, t.language, t.content_hash"
    " FROM tracks t JOIN artists a ON a.id = t.artist_id WHERE t.source_key = %s"
)


def track(key: str, artist: str = "Alpha", **fields: object) -> TrackRecord:
    return replace(TrackRecord(source_key=key, source="dump", title=f"Title {key}", artist=artist,
                               lyrics_raw=f"raw {key}", lyrics_clean=f"clean {key}", content_hash=f"h {key}"), **fields)


def row(conn: psycopg.Connection, key: str) -> dict[str, object] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SELECT_ROW, (key,)).fetchone()


def scalar(conn: psycopg.Connection, query: str, *args: object) -> object:
    found = conn.execute(query, args or None).fetchone()
    return None if found is None else found[0]


def test_an_upsert_replaces_every_column_and_keeps_the_row(db: psycopg.Connection) -> None:
    assert upsert_tracks(db, [OLD]) == 1
    db.commit()
    assert row(db, "genius:1") == asdict(OLD)
    first_id = scalar(db, "SELECT id FROM tracks")
    first_scraped = scalar(db, "SELECT scraped_at FROM tracks")
    db.commit()
    assert upsert_tracks(db, [NEW]) == 1
    db.commit()
    assert row(db, "genius:1") == asdict(NEW)
    assert scalar(db, "SELECT count(*) FROM tracks") == 1
    assert scalar(db, "SELECT id FROM tracks") == first_id  # embeddings and features keep pointing at it
    assert scalar(db, "SELECT scraped_at FROM tracks") > first_scraped  # type: ignore[operator]
    assert [n for (n,) in db.execute("SELECT name FROM artists ORDER BY name")] == ["New Artist", "Old Artist"]


def test_upsert_of_nothing_writes_nothing(db: psycopg.Connection) -> None:
    assert upsert_tracks(db, []) == 0
    assert upsert_artists(db, []) == {}
    assert scalar(db, "SELECT count(*) FROM tracks") == 0 and scalar(db, "SELECT count(*) FROM artists") == 0
    assert store_aliases(db, []) == 0
    assert track_ids(db, []) == {}


def test_upsert_artists_gives_one_row_per_name_and_keeps_ids(db: psycopg.Connection) -> None:
    first = upsert_artists(db, ["Beta", "Alpha", "Beta"])
    assert first == dict(db.execute("SELECT name, id FROM artists").fetchall())
    assert sorted(first) == ["Alpha", "Beta"]
    second = upsert_artists(db, ["Alpha", "Gamma"])
    assert sorted(second) == ["Alpha", "Gamma"]  # only the names asked for
    assert second["Alpha"] == first["Alpha"]
    assert scalar(db, "SELECT count(*) FROM artists") == 3
    assert upsert_tracks(db, [track("genius:1", "Alpha"), track("genius:2", "Alpha")]) == 2
    assert scalar(db, "SELECT count(DISTINCT artist_id) FROM tracks") == 1
    assert scalar(db, "SELECT artist_id FROM tracks WHERE source_key = 'genius:2'") == first["Alpha"]


def test_a_batch_is_stored_whole_or_not_at_all(db: psycopg.Connection) -> None:
    upsert_tracks(db, [track("genius:1", genius_id=1)])  # the caller's transaction stays open
    clash = track("genius:3", genius_id=1)  # genius_id is unique: the batch's second row fails
    with pytest.raises(psycopg.errors.UniqueViolation):
        upsert_tracks(db, [track("genius:2", "Newcomer"), clash])
    db.commit()  # what the caller did before the failed batch is kept, nothing of the batch
    assert [k for (k,) in db.execute("SELECT source_key FROM tracks")] == ["genius:1"]
    assert [n for (n,) in db.execute("SELECT name FROM artists")] == ["Alpha"]


def test_aliases_replace_tracks_and_tracks_replace_aliases(db: psycopg.Connection) -> None:
    upsert_tracks(db, [track("genius:1"), track("genius:2"), track("catalog:x", "Xavier")])
    ids = dict(db.execute("SELECT source_key, id FROM tracks").fetchall())
    alias = track("catalog:x", "Xavier", source="catalog", content_hash="h x")
    assert store_aliases(db, [("genius:1", alias, "content_hash")]) == 1
    assert scalar(db, "SELECT count(*) FROM tracks WHERE source_key = 'catalog:x'") == 0  # a track no more
    query = "SELECT source_key, track_id, source, artist, title, content_hash, rule FROM track_aliases"
    assert db.execute(query).fetchall() == [("catalog:x", ids["genius:1"], "catalog", "Xavier", "Title catalog:x",
                                             "h x", "content_hash")]
    moved = replace(alias, source="dump", artist="Xavier B", title="Other", content_hash="h y")
    assert store_aliases(db, [("genius:2", moved, "title_artist")]) == 1  # every alias column replaced
    assert db.execute(query).fetchall() == [("catalog:x", ids["genius:2"], "dump", "Xavier B", "Other", "h y",
                                             "title_artist")]
    upsert_tracks(db, [track("catalog:x", "Xavier")])  # a track again in a later run
    assert scalar(db, "SELECT count(*) FROM track_aliases") == 0
    assert scalar(db, "SELECT count(*) FROM tracks WHERE source_key = 'catalog:x'") == 1


def test_an_alias_of_a_missing_track_is_refused_before_anything_changes(db: psycopg.Connection) -> None:
    upsert_tracks(db, [track("genius:1"), track("catalog:x")])
    alias = track("catalog:x")
    missing = ["genius:7", "genius:5", "genius:6", "genius:8"]
    with pytest.raises(LookupError) as err:
        store_aliases(db, [("genius:1", alias, "content_hash"), *((key, alias, "content_hash") for key in missing)])
    assert str(err.value) == ("aliases of tracks that are not stored: ['genius:5', 'genius:6', 'genius:7']; "
                              "store the tracks first")  # the first three missing, sorted; not the stored one
    assert scalar(db, "SELECT count(*) FROM tracks") == 2 and scalar(db, "SELECT count(*) FROM track_aliases") == 0


def test_frames_and_ids_read_back_what_was_stored(db: psycopg.Connection) -> None:
    upsert_tracks(db, [track("genius:3", "Gamma", pageviews=3), track("genius:1", "Alpha"), track("catalog:2")])
    store_aliases(db, [("genius:3", track("genius:9", "Nine"), "content_hash"),
                       ("genius:1", track("catalog:4", "Four"), "title_artist")])
    ids = dict(db.execute("SELECT source_key, id FROM tracks").fetchall())
    assert track_ids(db, ["genius:1", "genius:404"]) == {"genius:1": ids["genius:1"]}
    frame = tracks_frame(db)
    assert list(frame.columns) == list(asdict(OLD))
    assert list(frame["source_key"]) == ["catalog:2", "genius:1", "genius:3"]
    assert list(frame["artist"]) == ["Alpha", "Alpha", "Gamma"]
    assert frame.set_index("source_key").loc["genius:3", "pageviews"] == 3
    assert list(tracks_frame(db, ["genius:3", "genius:1"])["source_key"]) == ["genius:1", "genius:3"]
    assert tracks_frame(db, []).empty
    aliases = aliases_frame(db)
    assert list(aliases.columns) == ["source_key", "track_key", "source", "artist", "title", "content_hash", "rule"]
    assert aliases.values.tolist() == [
        ["catalog:4", "genius:1", "dump", "Four", "Title catalog:4", "h catalog:4", "title_artist"],
        ["genius:9", "genius:3", "dump", "Nine", "Title genius:9", "h genius:9", "content_hash"],
    ]


def test_instance_id_is_the_databases_own_and_needs_a_migrated_database(db: psycopg.Connection) -> None:
    assert instance_id(db) == scalar(db, "SELECT value FROM meta WHERE key = 'instance_id'")
    db.execute("DELETE FROM meta")
    with pytest.raises(AssertionError, match=r"^database not migrated$"):
        instance_id(db)
    db.rollback()
