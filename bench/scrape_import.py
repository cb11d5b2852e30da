"""Songs/second for importing the 11.7K-song rap catalog into a fresh embedded PostgreSQL, writes included.
Goal: at least 300 songs/s on 2 cores.

    .venv/bin/python bench/scrape_import.py [--limit N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg

from rap_analyzer.config import load_params
from rap_analyzer.scrape.pipeline import ScrapeReport, import_items, limited
from rap_analyzer.scrape.sources import iter_offline_records
from rap_analyzer.store.migrate import migrate
from rap_analyzer.store.services import embedded_postgres_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    params = load_params()
    params = params.model_copy(update={"scrape": params.scrape.model_copy(update={"source": "catalog"})})
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp, psycopg.connect(
        embedded_postgres_url(Path(tmp) / "pg")
    ) as conn:
        migrate(conn)
        conn.commit()
        items = limited(iter_offline_records(params), args.limit)
        started = time.perf_counter()
        report = import_items(items, conn, ScrapeReport(source="catalog"), processed=None, progress=False)
        elapsed = time.perf_counter() - started
        stored = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]  # type: ignore[index]
    print(f"songs read:        {report.seen}")
    print(f"rows stored:       {stored}")
    print(f"rejected:          {sum(report.rejected.values())} {dict(report.rejected)}")
    print(f"files failed:      {len(report.failures)}")
    print(f"seconds:           {elapsed:.2f}")
    print(f"songs/second:      {report.seen / elapsed:.0f} (goal >= 300)")


if __name__ == "__main__":
    main()
