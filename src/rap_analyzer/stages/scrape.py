"""Entry point of the `scrape` stage, shared by the CLI and `notebooks/01_scrape.ipynb`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import NamedTuple

from rap_analyzer.config import Params
from rap_analyzer.scrape.enrich import enrich_tracks
from rap_analyzer.scrape.pipeline import ScrapeReport, import_items, limited, processed_set, write_outputs
from rap_analyzer.scrape.sources import (
    SourceError,
    SourceItem,
    count_source_items,
    iter_offline_records,
    offline_files,
)
from rap_analyzer.scrape.spotify import SpotifyEnricher
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate


class SourceStream(NamedTuple):
    items: Iterator[SourceItem | SourceError]
    total: int | None  # when cheap to know, for the progress bar
    skipped: Counter[str] | None = None  # filled while `items` is read: songs the source passed over, by reason


def source_stream(params: Params, source: str) -> SourceStream:
    """One source's songs, lazily, at most `scrape.limit` of them; a misconfigured source fails here, before any
    database work."""
    scrape = params.scrape
    if source == "genius":
        from rap_analyzer.scrape.genius_source import genius_client, iter_genius_records

        client = genius_client(params)  # no artists or no token: a UserError now, not at the first song
        return SourceStream(limited(iter_genius_records(params, client), scrape.limit), None, client.skipped)
    files = offline_files(params, source)
    if not files:
        raise FileNotFoundError(
            f"no JSON files for scrape source {source!r} under {params.shared_path('')}: "
            "set paths.shared_dir in params.yaml or RAP_ANALYZER_SHARED_DIR to the folder holding corpus/"
        )
    total = count_source_items(files)
    return SourceStream(limited(iter_offline_records(params, source), scrape.limit),
                        min(total, scrape.limit or total))


def source_items(params: Params) -> SourceStream:
    """Every source of `scrape.sources`, one after the other in the order listed (which is also the tie-break
    order of the merge); every source is checked before any is read."""
    streams = [source_stream(params, source) for source in params.scrape.sources]
    totals = [s.total for s in streams]
    skipped = [s.skipped for s in streams if s.skipped is not None]
    return SourceStream(chain.from_iterable(s.items for s in streams),
                        None if None in totals else sum(t for t in totals if t is not None),
                        skipped[0] if skipped else None)


def run(params: Params, out_dir: Path, progress: bool = True,
        enricher: SpotifyEnricher | None = None) -> ScrapeReport:
    """Reads the sources of `params.scrape.sources`; writes PostgreSQL `tracks` and `track_aliases`,
    `out_dir/corpus.parquet` (every merged track), `out_dir/tracks.parquet` (those of `scrape.dataset_sources`:
    the dataset's input) and `out_dir/scrape_report.json` (counts, merges by rule)."""
    source = source_items(params)  # fails before any connection when a source is misconfigured
    if params.scrape.spotify_enrich and enricher is None:
        enricher = SpotifyEnricher.from_settings(params.scrape)  # missing credentials: stop before any work
    with services.connect(params) as conn:
        migrate(conn)
        processed = processed_set(conn, services.redis_client(params))
        report = import_items(source.items, conn, ScrapeReport(sources=list(params.scrape.sources)), processed,
                              total=source.total, progress=progress)
        if source.skipped is not None:
            report.skipped_by_source = dict(source.skipped)
        if enricher is not None:
            report.spotify = enrich_tracks(conn, enricher, report.stored_keys, progress)
        write_outputs(conn, report, out_dir, params.scrape.dataset_sources)
    return report
