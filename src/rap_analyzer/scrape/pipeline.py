"""The `scrape` stage: records from a source, upserted into PostgreSQL in batches, exported to parquet.

Resumable by construction: each batch is one transaction keyed on `source_key`, and Redis remembers which
records (source_key plus a fingerprint of every field) are already stored, so a killed run restarted gives
the same rows as an uninterrupted one, without duplicates, and skips the work already done.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
import redis
from tqdm.auto import tqdm

from rap_analyzer.scrape.sources import SourceError, SourceItem
from rap_analyzer.store import tracks as track_store
from rap_analyzer.store.cache import KeySet
from rap_analyzer.store.records import TrackRecord


@dataclass
class ScrapeReport:
    source: str
    seen: int = 0
    written: int = 0
    unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, object]] = field(default_factory=list)
    per_artist: Counter[str] = field(default_factory=Counter)
    stored_keys: list[str] = field(default_factory=list)
    # Songs a source passed over before they became records, by reason (genius: features, remixes, non-songs)
    skipped_by_source: dict[str, int] = field(default_factory=dict)
    spotify: dict[str, int] | None = None  # counts of the Spotify enrichment, when enabled
    seconds: float = 0.0

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("stored_keys")
        data["stored"] = len(self.stored_keys)
        data["rejected"] = dict(sorted(self.rejected.items()))
        data["rejected_total"] = sum(self.rejected.values())
        data["per_artist"] = dict(sorted(self.per_artist.items()))
        data["skipped_by_source"] = dict(sorted(self.skipped_by_source.items()))
        data["songs_per_second"] = round(self.seen / self.seconds, 1) if self.seconds else None
        return data


def import_items(
    items: Iterable[SourceItem | SourceError],
    conn: psycopg.Connection,
    report: ScrapeReport,
    processed: KeySet | None = None,
    batch_size: int = 250,
    total: int | None = None,
    progress: bool = True,
) -> ScrapeReport:
    """Store every accepted record; count the rest. Safe to interrupt at any point and call again."""
    started = time.perf_counter()
    batch: list[TrackRecord] = []
    seen_keys: set[str] = set(report.stored_keys)

    def flush() -> None:
        if not batch:
            return
        report.written += track_store.upsert_tracks(conn, batch)
        conn.commit()
        if processed is not None:
            processed.add(*(_processed_key(r) for r in batch))
        batch.clear()

    for item in tqdm(items, total=total, desc=f"import {report.source}", unit="song", disable=not progress):
        if isinstance(item, SourceError):
            report.failures.append({"file": item.path.name, "song_index": item.index, "reason": item.reason})
            continue
        report.seen += 1
        record = item.record
        if item.reject_reason:
            report.rejected[item.reject_reason] += 1
            continue
        if record.source_key in seen_keys:
            report.rejected["duplicate_in_source"] += 1
            continue
        seen_keys.add(record.source_key)
        report.stored_keys.append(record.source_key)
        report.per_artist[record.artist] += 1
        if processed is not None and _processed_key(record) in processed:
            report.unchanged += 1
            continue
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    flush()
    report.seconds += time.perf_counter() - started
    return report


def _processed_key(record: TrackRecord) -> str:
    """Changes whenever any stored field changes (pageviews too), not only the lyrics."""
    fingerprint = hashlib.sha1(json.dumps(record.as_row(), default=str, sort_keys=True).encode()).hexdigest()
    return f"{record.source_key}:{fingerprint[:16]}"


def processed_set(conn: psycopg.Connection, client: redis.Redis) -> KeySet:
    """Per-database set, so a fresh database is never mistaken for one that already holds the songs."""
    return KeySet(client, f"rap-analyzer:scrape:processed:{track_store.instance_id(conn)}")


def limited(items: Iterable[SourceItem | SourceError], limit: int | None) -> Iterator[SourceItem | SourceError]:
    songs = 0
    for item in items:
        if limit is not None and isinstance(item, SourceItem):
            if songs >= limit:
                return
            songs += 1
        yield item


def write_outputs(conn: psycopg.Connection, report: ScrapeReport, out_dir: Path) -> Path:
    """`tracks.parquet` (the songs of this run, read back from the database) and `scrape_report.json`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = track_store.tracks_frame(conn, report.stored_keys)
    tracks_path = out_dir / "tracks.parquet"
    frame.to_parquet(tracks_path, index=False)
    (out_dir / "scrape_report.json").write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    return tracks_path
