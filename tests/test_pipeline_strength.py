"""The import pipeline (`scrape.pipeline`) on a handful of hand-made songs, every count worked out by hand in the
test (issue 16): a killed import resumes to the source's rows without duplicates, malformed songs and files are
reported by name and skipped, a re-scraped track whose stored fields changed is rewritten and an unchanged one
skipped, the limit counts songs and not failures, batches hold `batch_size` tracks, and the report and output
files hold the hand counts. In process and fast, so that mutation testing can afford to run it per mutant."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
import redis
from helpers import params_with

from rap_analyzer.scrape import pipeline
from rap_analyzer.scrape.pipeline import ScrapeReport, import_items, limited, processed_set, write_outputs
from rap_analyzer.scrape.sources import SourceError, SourceItem, iter_offline_records
from rap_analyzer.store import tracks as track_store
from rap_analyzer.store.records import TrackRecord, content_hash

# tracks.parquet holds every TrackRecord field, in this order; corpus.parquet the same without lyrics_raw.
COLUMNS = ["source_key", "source", "title", "artist", "lyrics_raw", "lyrics_clean", "sections", "genius_id",
           "featured_artists", "producer_artists", "writer_artists", "album", "release_date", "release_date_raw",
           "url", "pageviews", "annotation_count", "pyongs_count", "language", "content_hash"]


def lyrics(n: int) -> str:
    """25 words no other song shares, so that no two test songs merge unless a test gives them the same lyrics."""
    return "\n".join(" ".join(f"s{n}w{i}{j}" for j in range(5)) for i in range(5))


def record(key: str, artist: str = "Alpha", source: str = "dump", text: str | None = None,
           pageviews: int | None = None) -> TrackRecord:
    body = text if text is not None else lyrics(int(key.split(":")[1]))
    return TrackRecord(source_key=key, source=source, title=f"Song {key}", artist=artist, lyrics_raw=body,
                       lyrics_clean=body, pageviews=pageviews, content_hash=content_hash(body))


def items(records: Iterable[TrackRecord]) -> list[SourceItem | SourceError]:
    return [SourceItem(r, None, Path("Lyrics_Test.json"), i) for i, r in enumerate(records)]


def run(conn: psycopg.Connection, client: redis.Redis, source: Iterable[SourceItem | SourceError],
        batch_size: int = 3, sources: list[str] | None = None) -> ScrapeReport:
    return import_items(source, conn, ScrapeReport(sources=sources or ["dump"]), processed_set(conn, client),
                        batch_size=batch_size, progress=False)


def count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]


def stored_keys(conn: psycopg.Connection) -> list[str]:
    return [k for (k,) in conn.execute("SELECT source_key FROM tracks ORDER BY source_key")]


def processed_members(client: redis.Redis) -> list[str]:
    return sorted(m.decode() for key in client.keys("*") for m in client.smembers(key))


class Killed(Exception):
    pass


def song(n: int, artist: str, title: str | None = None, text: str | None = None,
         pageviews: int | None = None) -> dict[str, Any]:
    """A lyricsgenius song object as the dump holds them."""
    data: dict[str, Any] = {"id": n, "title": title or f"Song {n}", "primary_artist": {"name": artist},
                            "lyrics": text if text is not None else lyrics(n)}
    if pageviews is not None:
        data["stats"] = {"pageviews": pageviews}
    return data


def test_report_and_rows_hold_the_hand_counts_and_name_what_was_skipped(
    tmp_path: Path, db: psycopg.Connection, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "Lyrics_A.json").write_text(json.dumps({"songs": [
        song(1, "Alpha", pageviews=10),
        song(2, "Alpha", text="too short"),  # rejected: fewer than scrape.min_words words
        song(3, "Alpha", title="Same Name"),
        {"title": "a song without an id"},  # malformed: reported as song #3 of Lyrics_A.json, skipped
    ]}))
    (folder / "Lyrics_B.json").write_text(json.dumps({"songs": [
        song(5, "Beta", text=lyrics(5)),
        song(1, "Alpha", pageviews=10),  # the same Genius id again: merged by source_key
        song(6, "Gamma", text=lyrics(5), pageviews=50),  # song 5's lyrics: one track, 6 wins on pageviews
        song(7, "Alpha", title="Same Name"),  # song 3's name, other lyrics: kept apart
        song(8, "Beta", text="also too short"),  # the second song rejected for the same reason
    ]}))
    (folder / "Lyrics_Broken.json").write_text('{"songs": [')  # unreadable: reported by file name, skipped
    params = params_with({"scrape": {"sources": ["dump"], "dump_dirs": [str(folder)]}})
    reasons = {(e.path.name, e.index): e.reason for e in iter_offline_records(params, "dump")
               if isinstance(e, SourceError)}
    assert sorted(reasons, key=str) == [("Lyrics_A.json", 3), ("Lyrics_Broken.json", None)]
    ticks = iter([10.0, 13.0])  # the import takes 3 s by this clock
    monkeypatch.setattr(pipeline, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))

    report = run(db, redis_client, iter_offline_records(params, "dump"))

    expected_keys = ["genius:1", "genius:3", "genius:6", "genius:7"]
    assert report.stored_keys == expected_keys  # the winners, in reading order
    assert stored_keys(db) == expected_keys
    assert db.execute("SELECT a.source_key, t.source_key, a.rule FROM track_aliases a "
                      "JOIN tracks t ON t.id = a.track_id").fetchall() == [("genius:5", "genius:6", "content_hash")]
    instance = db.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()[0]  # type: ignore[index]
    assert [k.decode() for k in redis_client.keys("*")] == [f"rap-analyzer:scrape:processed:{instance}"]
    members = processed_members(redis_client)
    assert len(members) == 4
    assert all(re.fullmatch(rf"{key}:[0-9a-f]{{16}}", m) for key, m in zip(expected_keys, members, strict=True))
    expected = {
        "sources": ["dump"], "seen": 8, "written": 4, "unchanged": 0, "rejected": {"too_short": 2},
        "failures": [{"file": "Lyrics_A.json", "song_index": 3, "reason": reasons[("Lyrics_A.json", 3)]},
                     {"file": "Lyrics_Broken.json", "song_index": None,
                      "reason": reasons[("Lyrics_Broken.json", None)]}],
        "per_artist": {"Alpha": 3, "Gamma": 1}, "per_source": {"dump": 4},
        "merged": {"source_key": 1, "title_artist": 0, "content_hash": 1}, "kept_apart": 1, "aliases": 1,
        "skipped_by_source": {}, "spotify": None, "seconds": 3.0,
        "stored": 4, "rejected_total": 2, "songs_per_second": 2.7,  # 8 songs / 3 s, one decimal
    }
    assert report.to_json() == expected
    out = tmp_path / "out" / "raw"  # two levels that do not exist yet
    assert write_outputs(db, report, out) == out / "tracks.parquet"
    text = (out / "scrape_report.json").read_text()
    assert json.loads(text) == expected
    assert text == json.dumps(json.loads(text), indent=2) + "\n"  # indented by two, one newline at the end
    assert list(pd.read_parquet(out / "tracks.parquet")["source_key"]) == expected_keys


def test_an_empty_report_has_every_rule_and_no_rate() -> None:
    assert ScrapeReport(sources=["dump", "catalog"]).to_json() == {
        "sources": ["dump", "catalog"], "seen": 0, "written": 0, "unchanged": 0, "rejected": {}, "failures": [],
        "per_artist": {}, "per_source": {}, "merged": {"source_key": 0, "title_artist": 0, "content_hash": 0},
        "kept_apart": 0, "aliases": 0, "skipped_by_source": {}, "spotify": None, "seconds": 0.0, "stored": 0,
        "rejected_total": 0, "songs_per_second": None,  # no time measured: no rate, not a division by zero
    }
    report = ScrapeReport(sources=["dump"], seen=1, seconds=0.04, stored_keys=["genius:1", "genius:2"],
                          rejected={"empty": 2, "too_short": 3}, skipped_by_source={"remix": 2, "feature": 1})
    data = report.to_json()
    assert data["songs_per_second"] == 25.0 and data["stored"] == 2 and data["rejected_total"] == 5
    assert list(data["rejected"]) == ["empty", "too_short"] and list(data["skipped_by_source"]) == ["feature", "remix"]


def test_killed_import_resumes_to_the_source_rows_without_duplicates(
    db: psycopg.Connection, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = [record(f"genius:{n}", artist=f"Artist {n % 2}") for n in range(1, 8)]  # 7 songs: batches 3, 3, 1

    def killed_while_reading() -> Iterator[SourceItem | SourceError]:
        yield from items(source)[:4]
        raise Killed

    with pytest.raises(Killed):  # everything is read before anything is stored: nothing half-written
        run(db, redis_client, killed_while_reading())
    assert count(db, "tracks") == 0 and processed_members(redis_client) == []

    real, calls = track_store.upsert_tracks, [0]

    def upsert(conn: psycopg.Connection, records: list[TrackRecord]) -> int:
        calls[0] += 1
        written = real(conn, records)
        if calls[0] == 2:  # the second batch dies after its rows were sent, inside its transaction
            raise Killed
        return written

    with monkeypatch.context() as patch, pytest.raises(Killed):
        patch.setattr(track_store, "upsert_tracks", upsert)
        run(db, redis_client, items(source))
    db.rollback()
    assert stored_keys(db) == ["genius:1", "genius:2", "genius:3"]  # the first batch, nothing of the second
    assert len(processed_members(redis_client)) == 3  # remembered only once committed

    resumed = run(db, redis_client, items(source))
    assert (resumed.unchanged, resumed.written) == (3, 4)
    assert stored_keys(db) == sorted(r.source_key for r in source)  # 7 rows for 7 songs, each once
    assert count(db, "tracks") == len(source)
    assert len(processed_members(redis_client)) == len(source)
    again = run(db, redis_client, items(source))
    assert (again.unchanged, again.written, count(db, "tracks")) == (7, 0, 7)


def test_a_rescraped_track_is_rewritten_when_any_stored_field_changed(
    db: psycopg.Connection, redis_client: redis.Redis
) -> None:
    first = [record("genius:1"), record("genius:2", pageviews=5), record("genius:4", pageviews=9),
             record("genius:5", artist="Beta", text=lyrics(4))]  # 5: an alias of 4 (same lyrics, fewer views)
    assert run(db, redis_client, items(first)).written == 3
    second = [first[0], replace(first[1], pageviews=6), first[2], replace(first[3], artist="Beta Renamed")]
    report = run(db, redis_client, items(second))
    assert (report.written, report.unchanged) == (2, 1)  # 2: its pageviews; 4: its alias' artist
    assert db.execute("SELECT pageviews FROM tracks WHERE source_key = 'genius:2'").fetchone() == (6,)
    assert db.execute("SELECT artist FROM track_aliases WHERE source_key = 'genius:5'").fetchone() == ("Beta Renamed",)
    assert run(db, redis_client, items(second)).unchanged == 3


def test_the_processed_set_belongs_to_one_database(db_factory: Callable[[], str], redis_client: redis.Redis) -> None:
    source = [record("genius:1"), record("genius:2")]
    with psycopg.connect(db_factory()) as conn:
        assert run(conn, redis_client, items(source)).written == 2
    with psycopg.connect(db_factory()) as conn:  # a fresh database, the same Redis: nothing is taken as stored
        report = run(conn, redis_client, items(source))
        assert (report.written, report.unchanged, count(conn, "tracks")) == (2, 0, 2)


def test_limit_counts_songs_not_failures() -> None:
    def error(n: int) -> SourceError:
        return SourceError(Path(f"Lyrics_{n}.json"), f"bad {n}")

    def ok(n: int) -> SourceItem:
        return SourceItem(record(f"genius:{n}"), None, Path("Lyrics_Test.json"), n)

    stream = [error(0), ok(1), error(1), ok(2), ok(3), error(2)]  # 3 songs, 3 failures
    assert list(limited(stream, None)) == stream
    assert list(limited(stream, 0)) == [error(0)]
    assert list(limited(stream, 1)) == [error(0), ok(1), error(1)]
    assert list(limited(stream, 2)) == [error(0), ok(1), error(1), ok(2)]  # just below the 3 songs
    assert list(limited(stream, 3)) == stream  # at
    assert list(limited(stream, 4)) == stream  # just above


def test_each_batch_holds_batch_size_tracks(
    db: psycopg.Connection, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, sizes = track_store.upsert_tracks, []

    def upsert(conn: psycopg.Connection, records: list[TrackRecord]) -> int:
        sizes.append(len(records))
        return real(conn, records)

    monkeypatch.setattr(track_store, "upsert_tracks", upsert)
    source = [record(f"genius:{n}") for n in range(1, 8)]
    for batch_size, expected in [(3, [3, 3, 1]), (6, [6, 1]), (7, [7]), (8, [7])]:
        sizes.clear()
        # No processed set: every track is written again, and the upsert keeps one row per song.
        report = import_items(items(source), db, ScrapeReport(sources=["dump"]), None, batch_size=batch_size,
                              progress=False)
        assert sizes == expected, batch_size
        assert (report.written, report.unchanged, count(db, "tracks")) == (7, 0, 7)
    sizes.clear()
    many = [record(f"genius:{n}") for n in range(100, 351)]  # 251 songs
    import_items(items(many), db, ScrapeReport(sources=["dump"]), processed_set(db, redis_client), progress=False)
    assert sizes == [250, 1]  # the stage's batch: 250 tracks per transaction


def test_outputs_hold_this_runs_tracks_and_the_dataset_sources(
    db: psycopg.Connection, redis_client: redis.Redis, tmp_path: Path
) -> None:
    track_store.upsert_tracks(db, [record("genius:9")])  # stored by an earlier run, not read by this one
    db.commit()
    source = [record("genius:1"), record("catalog:2", artist="Beta", source="catalog"), record("genius:3")]
    report = run(db, redis_client, items(source), sources=["dump", "catalog"])
    out = tmp_path / "raw"
    out.mkdir()  # an existing folder is written into
    assert write_outputs(db, report, out, ["dump"]) == out / "tracks.parquet"
    corpus, tracks = pq.read_table(out / "corpus.parquet"), pq.read_table(out / "tracks.parquet")
    assert corpus.column_names == [c for c in COLUMNS if c != "lyrics_raw"]
    assert tracks.column_names == COLUMNS
    assert corpus.column("source_key").to_pylist() == ["catalog:2", "genius:1", "genius:3"]
    assert tracks.column("source_key").to_pylist() == ["genius:1", "genius:3"]
    assert tracks.column("lyrics_raw").to_pylist() == [lyrics(1), lyrics(3)]
    write_outputs(db, report, out)  # None: every source in tracks.parquet
    assert pq.read_table(out / "tracks.parquet").column("source_key").to_pylist() == ["catalog:2", "genius:1",
                                                                                      "genius:3"]


def test_progress_bars_name_the_sources_and_count_songs_and_tracks(
    db: psycopg.Connection, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    source = [record("genius:1"), record("catalog:2", source="catalog"), record("genius:3")]
    # A stream, as the stage gives: the bar learns the number of songs from `total` alone.
    import_items(iter(items(source)), db, ScrapeReport(sources=["dump", "catalog"]), None, total=3, progress=False)
    assert capsys.readouterr().err == ""
    import_items(iter(items(source)), db, ScrapeReport(sources=["dump", "catalog"]), None, total=3)
    err = capsys.readouterr().err
    assert re.search(r"read dump\+catalog: 100%.*3/3.*(song/s|s/song)", err), err
    assert re.search(r"store: 100%.*3/3.*(track/s|s/track)", err), err


def test_one_report_over_two_imports_sums_their_counts(
    db: psycopg.Connection, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter([0.0, 3.0, 10.0, 12.0])  # the imports take 3 s and 2 s by this clock
    monkeypatch.setattr(pipeline, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    report = ScrapeReport(sources=["dump"])
    processed = processed_set(db, redis_client)
    # Each part: one song kept apart from another of the same name, one alias (same lyrics, another artist).
    for first in (1, 5):
        part = [replace(record(f"genius:{first}"), title="Twin"), replace(record(f"genius:{first + 1}"), title="Twin"),
                record(f"genius:{first + 2}", pageviews=1),
                record(f"genius:{first + 3}", artist="Other", text=lyrics(first + 2))]
        import_items(items(part), db, report, processed, batch_size=2, progress=False)
    data = report.to_json()
    assert (data["seen"], data["written"], data["kept_apart"], data["aliases"]) == (8, 6, 2, 2)
    assert data["merged"] == {"source_key": 0, "title_artist": 0, "content_hash": 2}
    assert data["seconds"] == 5.0 and data["songs_per_second"] == 1.6
