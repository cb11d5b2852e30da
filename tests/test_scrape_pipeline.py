from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import redis
from helpers import params_with

from rap_analyzer.config import Params
from rap_analyzer.scrape.pipeline import ScrapeReport, import_items, limited, processed_set, write_outputs
from rap_analyzer.scrape.sources import SourceError, SourceItem, iter_offline_records
from rap_analyzer.store import tracks as track_store
from rap_analyzer.store.tracks import tracks_frame

DUMP_SLICE = ["corpus/genius/rap/Lyrics_Nas.json", "corpus/genius/rap/Lyrics_JAYZ.json"]


@pytest.fixture
def slice_params(params: Params, shared_dir: Path, tmp_path: Path) -> Params:
    """Two real dump files plus one malformed file, as a dump source."""
    folder = tmp_path / "dumps"
    folder.mkdir()
    for relative in DUMP_SLICE:
        (folder / Path(relative).name).symlink_to(shared_dir / relative)
    (folder / "Lyrics_Broken.json").write_text('{"name": "Broken", "songs": [')
    return params_with({"scrape": {"sources": ["dump"], "dataset_sources": ["dump"], "dump_dirs": [str(folder)]}})


class Killed(Exception):
    pass


def killed_after(items: Iterator[SourceItem | SourceError], n: int) -> Iterator[SourceItem | SourceError]:
    for i, item in enumerate(items):
        if i == n:
            raise Killed
        yield item


def run(params: Params, conn: psycopg.Connection, client: redis.Redis,
        items: Iterable[SourceItem | SourceError] | None = None) -> ScrapeReport:
    items = items if items is not None else iter_offline_records(params, "dump")
    return import_items(items, conn, ScrapeReport(sources=["dump"]), processed_set(conn, client), batch_size=8,
                        progress=False)


def crash_on_batch(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """The n-th batch write (1-based) dies inside its transaction, like a kill -9 mid-write."""
    real, calls = track_store.upsert_tracks, [0]

    def upsert(conn: psycopg.Connection, records: list) -> int:
        calls[0] += 1
        if calls[0] == n:
            real(conn, records)  # written, then lost with the transaction
            raise Killed
        return real(conn, records)

    monkeypatch.setattr(track_store, "upsert_tracks", upsert)


def test_killed_import_resumes_to_the_same_rows(
    slice_params: Params, db_factory: Callable[[], str], redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(db_factory()) as conn:
        uninterrupted_report = run(slice_params, conn, redis_client)
        uninterrupted = tracks_frame(conn)
    with psycopg.connect(db_factory()) as conn:
        with pytest.raises(Killed):  # killed while reading: nothing is half-written
            run(slice_params, conn, redis_client, killed_after(iter_offline_records(slice_params, "dump"), 27))
        assert conn.execute("SELECT count(*) FROM tracks").fetchone()[0] == 0  # type: ignore[index]
        with monkeypatch.context() as patch, pytest.raises(Killed):  # killed while writing the 4th batch
            crash_on_batch(patch, 4)
            run(slice_params, conn, redis_client)
        conn.rollback()
        partial = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]  # type: ignore[index]
        assert partial == 3 * 8  # the three whole batches committed before the kill, nothing of the fourth
        resumed_report = run(slice_params, conn, redis_client)
        resumed = tracks_frame(conn)
    assert resumed_report.unchanged == partial  # the work already done is skipped
    assert resumed_report.written == len(uninterrupted) - partial
    assert uninterrupted_report.stored_keys == resumed_report.stored_keys
    pd.testing.assert_frame_equal(uninterrupted, resumed)
    assert resumed["source_key"].is_unique


def test_report_counts_malformed_files_by_name(
    slice_params: Params, db: psycopg.Connection, redis_client: redis.Redis, tmp_path: Path
) -> None:
    report = run(slice_params, db, redis_client)
    assert [(f["file"], f["song_index"]) for f in report.failures] == [("Lyrics_Broken.json", None)]
    assert report.seen == report.written + sum(report.rejected.values()) + sum(report.merged.values())
    assert len(report.per_artist) == 2
    write_outputs(db, report, tmp_path / "raw")
    frame = pd.read_parquet(tmp_path / "raw" / "tracks.parquet")
    saved = json.loads((tmp_path / "raw" / "scrape_report.json").read_text())
    assert len(frame) == saved["stored"] == report.written
    assert saved["failures"][0]["file"] == "Lyrics_Broken.json"
    assert frame["source_key"].is_monotonic_increasing


def test_limit_counts_songs_not_failures(slice_params: Params) -> None:
    items = list(limited(iter_offline_records(slice_params, "dump"), 5))
    assert sum(isinstance(i, SourceItem) for i in items) == 5
