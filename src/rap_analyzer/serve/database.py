"""PostgreSQL for the service: pooled connections (`rap_analyzer.store.services`) that turn any failure to
reach the database, at start-up or mid-run, into `ServiceUnavailableError` with a message saying what is
down and what still works; the service answers those with 503."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import PoolTimeout

from rap_analyzer.config import Params
from rap_analyzer.errors import ServiceUnavailableError
from rap_analyzer.store import services

UNAVAILABLE = ("PostgreSQL is unavailable, so search, similar tracks and trends cannot answer (predictions and "
               "/analyze without neighbours still work); check DATABASE_URL or the embedded server under data/pg")


def _alive(conn: psycopg.Connection) -> bool:
    """Whether the server still answers on `conn` (one round trip)."""
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


class Database:
    def __init__(self, params: Params, timeout_s: float) -> None:
        self.params, self.timeout_s = params, timeout_s

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection (committed at the end of the block). Raises ServiceUnavailableError when none
        comes within `timeout_s` or the server goes away during the block."""
        try:
            # Getting the pool may start the embedded server, which fails in its own ways (OSError, the
            # library's errors): any failure before a connection exists means the database is unavailable.
            pool = services.connection_pool(self.params)
        except Exception as exc:
            raise ServiceUnavailableError(f"{UNAVAILABLE} ({type(exc).__name__})") from exc
        try:
            for attempt in (1, 2):
                with pool.connection(timeout=self.timeout_s) as conn:
                    if attempt == 2 or _alive(conn):
                        yield conn
                        return
                # Leaving the block handed the broken connection back (the pool replaces it). A server restart
                # closes every pooled connection, and each would fail one request: drop them all (psycopg_pool's
                # check of the idle connections), then take a fresh one.
                pool.check()
        except (psycopg.OperationalError, PoolTimeout, ServiceUnavailableError) as exc:
            raise ServiceUnavailableError(f"{UNAVAILABLE} ({type(exc).__name__})") from exc

    def check(self) -> str | None:
        """None when a query answers, else the reason."""
        try:
            with self.connection() as conn:
                conn.execute("SELECT 1")
        except ServiceUnavailableError as exc:
            return str(exc)
        return None
