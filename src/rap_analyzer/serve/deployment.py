"""What `bentoml serve` does once, in its main process, before starting workers: find PostgreSQL and Redis
(`DATABASE_URL` / `REDIS_URL`, else the embedded servers under `data/`, started here so that every worker
shares one of each) and export their URLs to the workers' environment.

Pending schema migrations are applied here too (the service reads `track_features`, which a database prepared
before that table existed lacks). A server that cannot start, or a database that cannot be migrated, is logged,
not fatal: the service starts degraded (`/health` says why) and keeps serving predictions.
"""

from __future__ import annotations

import logging
import os

import psycopg

from rap_analyzer.config import Params
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate

log = logging.getLogger(__name__)


def export_service_urls(params: Params) -> dict[str, bool]:
    """Sets env DATABASE_URL and REDIS_URL for the workers; returns which of the two are set."""
    for variable, find in (("DATABASE_URL", services.database_url), ("REDIS_URL", services.redis_url)):
        if os.environ.get(variable):
            continue
        try:
            os.environ[variable] = find(params)
        except Exception as exc:  # any start-up failure of an embedded server: serve without it
            log.warning("%s unset and the embedded server did not start (%s): serving without it",
                        variable, type(exc).__name__)
    url = os.environ.get("DATABASE_URL")
    if url:
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                applied = migrate(conn)
            if applied:
                log.info("applied migrations %s", ", ".join(applied))
        except psycopg.Error as exc:
            log.warning("database not migrated (%s): search and trends may fail until it is", type(exc).__name__)
    return {v: bool(os.environ.get(v)) for v in ("DATABASE_URL", "REDIS_URL")}


def redis_url() -> str:
    """The URL exported by `export_service_urls` (an unreachable placeholder when none could be found, so
    Redis users fail fast and degrade instead of starting a server per worker)."""
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:1/0"
