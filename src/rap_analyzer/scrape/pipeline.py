"""The `scrape` stage: records from one or more sources, merged into one track per song (`scrape.merge`),
upserted into PostgreSQL in batches, exported to parquet.

Resumable by construction: the merge is a pure function of the records in reading order, each batch (tracks and
their aliases) is one transaction keyed on `source_key`, and Redis remembers which tracks (source_key plus a
fingerprint of every field and alias) are already stored, so a killed run restarted gives the same rows as an
uninterrupted one, without duplicates, and skips the work already done.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
import redis
from tqdm.auto import tqdm

from rap_analyzer.scrape.merge import RULES, Alias, MergeResult, merge_records
from rap_analyzer.scrape.sources import SourceError, SourceItem
from rap_analyzer.store import tracks as track_store
from rap_analyzer.store.cache import KeySet
from rap_analyzer.store.records import TrackRecord


@dataclass
class ScrapeReport:
    sources: list[str]
    seen: int = 0
    written: int = 0
    unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, object]] = field(default_factory=list)
    per_artist: Counter[str] = field(default_factory=Counter)
    per_source: Counter[str] = field(default_factory=Counter)  # tracks (after merging) by winning source
    merged: Counter[str] = field(default_factory=Counter)  # records merged into another track, by rule
    kept_apart: int = 0  # same normalised artist and title, different lyrics: kept as two songs
    aliases: int = 0
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
        data["per_source"] = dict(sorted(self.per_source.items()))
        data["merged"] = {rule: self.merged.get(rule, 0) for rule in RULES}
        data["skipped_by_source"] = dict(sorted(self.skipped_by_source.items()))
        data["songs_per_second"] = round(self.seen / self.seconds, 1) if self.seconds else None
        return data


def collect(items: Iterable[SourceItem | SourceError], report: ScrapeReport, total: int | None = None,
            progress: bool = True) -> list[TrackRecord]:
    """The accepted records of `items` in reading order; rejected songs are counted by reason and unreadable
    files or songs recorded in `report.failures`."""
    accepted: list[TrackRecord] = []
    label = "+".join(report.sources)
    for item in tqdm(items, total=total, desc=f"read {label}", unit="song", disable=not progress):
        if isinstance(item, SourceError):
            report.failures.append({"file": item.path.name, "song_index": item.index, "reason": item.reason})
            continue
        report.seen += 1
        if item.reject_reason:
            report.rejected[item.reject_reason] += 1
            continue
        accepted.append(item.record)
    return accepted


def store_merged(merged: MergeResult, conn: psycopg.Connection, report: ScrapeReport,
                 processed: KeySet | None = None, batch_size: int = 250, progress: bool = True) -> ScrapeReport:
    """Upsert the merged tracks with their aliases, a batch per transaction; a track whose row and aliases are
    already stored unchanged (per `processed`) is skipped. Safe to interrupt at any point and call again."""
    batch: list[TrackRecord] = []

    def flush() -> None:
        if not batch:
            return
        with conn.transaction():
            report.written += track_store.upsert_tracks(conn, batch)
            track_store.store_aliases(conn, [(r.source_key, a.record, a.rule) for r in batch
                                             for a in merged.aliases.get(r.source_key, [])])
        conn.commit()
        if processed is not None:
            processed.add(*(_processed_key(r, merged.aliases.get(r.source_key, [])) for r in batch))
        batch.clear()

    for record in tqdm(merged.tracks, desc="store", unit="track", disable=not progress):
        aliases = merged.aliases.get(record.source_key, [])
        report.stored_keys.append(record.source_key)
        report.per_artist[record.artist] += 1
        report.per_source[record.source] += 1
        if processed is not None and _processed_key(record, aliases) in processed:
            report.unchanged += 1
            continue
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    flush()
    report.merged.update(merged.merged)
    report.kept_apart += merged.kept_apart
    report.aliases += merged.alias_count()
    return report


def import_items(
    items: Iterable[SourceItem | SourceError],
    conn: psycopg.Connection,
    report: ScrapeReport,
    processed: KeySet | None = None,
    batch_size: int = 250,
    total: int | None = None,
    progress: bool = True,
) -> ScrapeReport:
    """Read every source item, merge the same songs into one track (`scrape.merge`), store the tracks and their
    aliases; count the rest. Safe to interrupt at any point and call again: the rows come out the same."""
    started = time.perf_counter()
    records = collect(items, report, total, progress)
    store_merged(merge_records(records, report.sources), conn, report, processed, batch_size, progress)
    report.seconds += time.perf_counter() - started
    return report


def _processed_key(record: TrackRecord, aliases: Sequence[Alias] = ()) -> str:
    """Changes whenever any stored field changes (pageviews too, and the aliases), not only the lyrics."""
    stored = [record.as_row(), [(a.record.source_key, a.record.source, a.record.artist, a.record.title,
                                 a.record.content_hash, a.rule) for a in aliases]]
    fingerprint = hashlib.sha1(json.dumps(stored, default=str, sort_keys=True).encode()).hexdigest()
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


def write_outputs(conn: psycopg.Connection, report: ScrapeReport, out_dir: Path,
                  dataset_sources: Sequence[str] | None = None) -> Path:
    """Read back from the database, ordered by source_key: `corpus.parquet` (every track of this run, without
    `lyrics_raw`: what the index stage embeds), `tracks.parquet` (the tracks whose winning source is in
    `dataset_sources`, every column: the dataset's input; None: all) and `scrape_report.json`. Returns the
    path of tracks.parquet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = track_store.tracks_frame(conn, report.stored_keys)
    frame.drop(columns="lyrics_raw").to_parquet(out_dir / "corpus.parquet", index=False)
    if dataset_sources is not None:
        frame = frame[frame["source"].isin(list(dataset_sources))].reset_index(drop=True)
    tracks_path = out_dir / "tracks.parquet"
    frame.to_parquet(tracks_path, index=False)
    (out_dir / "scrape_report.json").write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    return tracks_path
