"""No password reaches the terminal, in any form psycopg accepts for DATABASE_URL: the installed console script is
run as a user runs it (`rap-analyzer db status`) against an unreachable server, and its output is searched for the
password. Forms: URL (plain and percent-encoded), URL query `?password=`, key=value (plain and quoted, with spaces),
and the password given only in PGPASSWORD."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("rap-analyzer")
PASSWORD = "S3cret-pw-7f3a"
UNREACHABLE = "127.0.0.1"  # port 1: nothing listens there, the connection is refused at once

CASES = {
    "url": (f"postgresql://alice:{PASSWORD}@{UNREACHABLE}:1/db", {}),
    "url_encoded": (f"postgresql://alice:{PASSWORD.replace('-', '%2D')}@{UNREACHABLE}:1/db", {}),
    "url_query": (f"postgresql://alice@{UNREACHABLE}:1/db?password={PASSWORD}", {}),
    "keyvalue": (f"host={UNREACHABLE} port=1 user=alice password={PASSWORD} dbname=db", {}),
    "keyvalue_quoted": (f"host={UNREACHABLE} port=1 user=alice password='{PASSWORD} x' dbname=db", {}),
    "pgpassword": (f"postgresql://alice@{UNREACHABLE}:1/db", {"PGPASSWORD": PASSWORD}),
}


def run_db_status(database_url: str, extra_env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"DATABASE_URL": database_url, "PGCONNECT_TIMEOUT": "3", "HOME": str(tmp_path), **extra_env})
    return subprocess.run([str(SCRIPT), "-v", "db", "status"], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("form", [
    "url", "url_encoded", "url_query", "pgpassword", "keyvalue", "keyvalue_quoted",
])
def test_db_error_never_prints_the_password(form: str, tmp_path: Path) -> None:
    url, extra = CASES[form]
    result = run_db_status(url, extra, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output  # a known failure: one "error:" line (with -v, the traceback too)
    assert "error:" in output
    secret = PASSWORD.split()[0]
    assert secret not in output and PASSWORD.replace("-", "%2D") not in output, output


def test_secrets_from_dotenv_are_masked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """`.env` values reach `Secrets` without being exported to the environment: masking must read them there."""
    from pydantic import SecretStr

    from rap_analyzer import cli
    from rap_analyzer.config import Secrets

    for name in (*cli.SECRET_VARIABLES, "PGPASSWORD", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    configured = Secrets.model_construct(
        database_url="host=127.0.0.1 user=alice password=DotEnvPw1 dbname=db", redis_url=None,
        genius_access_token=SecretStr("DotEnvToken2"), spotify_client_id=None, spotify_client_secret=None,
        openai_api_key=None, novita_api_key=None)
    monkeypatch.setattr(cli, "get_secrets", lambda: configured)
    masked = cli._redact("failed with password=DotEnvPw1 and token DotEnvToken2")
    assert "DotEnvPw1" not in masked and "DotEnvToken2" not in masked and masked.count("***") == 2
