"""The installed `rap-analyzer` console script, run as a user would: each class of known failure prints exactly
one line `error: ...` on stderr, exits 2 and shows no traceback (unless --verbose) and no secret; an unknown
exception keeps its traceback and exits 1.

Each run gets its own project root (a temp folder with a copy of params.yaml, `RAP_ANALYZER_ROOT` pointing at it),
so the repository's `.env`, data and servers are never touched."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import raw_params

CONSOLE_SCRIPT = Path(sys.executable).with_name("rap-analyzer")
SECRET_ENV = ("GENIUS_ACCESS_TOKEN", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "NOVITA_API_KEY",
              "OPENAI_API_KEY", "RAP_ANALYZER_API_KEY", "DATABASE_URL", "REDIS_URL", "RAP_ANALYZER_PARAMS",
              "RAP_ANALYZER_SHARED_DIR")

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def project(tmp_path: Path) -> Callable[[Mapping[str, Any] | None], Path]:
    """Writes `<tmp>/params.yaml` (the repository's, with overrides) and returns the folder."""

    def write(overrides: Mapping[str, Any] | None = None) -> Path:
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params(overrides)))
        return tmp_path

    return write


@pytest.fixture
def run(tmp_path: Path) -> Run:
    def call(*args: str, env: Mapping[str, str] | None = None, python: str | None = None
             ) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
        clean.update({"RAP_ANALYZER_ROOT": str(tmp_path), "NO_COLOR": "1", **(env or {})})
        command = [sys.executable, "-c", python, *args] if python else [str(CONSOLE_SCRIPT), *args]
        return subprocess.run(command, cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120)

    return call


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The known-failure contract; returns the message after `error: `."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0].removeprefix("error: ")


def test_console_script_is_installed_next_to_the_interpreter() -> None:
    assert CONSOLE_SCRIPT.is_file() and os.access(CONSOLE_SCRIPT, os.X_OK), "pip install -e . first"


def test_malformed_database_url(project, run: Run) -> None:
    project(None)
    message = one_error_line(run("db", "status", env={"DATABASE_URL": "not-a-url"}))
    assert "DATABASE_URL" in message and "postgresql://" in message and "unset DATABASE_URL" in message
    assert "not-a-url" not in message  # never echoed: a malformed value may still hold a password


def test_malformed_redis_url(project, run: Run) -> None:
    project(None)
    message = one_error_line(run("db", "status", env={"REDIS_URL": "localhost:6379"}))
    assert "REDIS_URL" in message and "redis://" in message and "localhost" not in message


@pytest.mark.parametrize("verbose", [False, True])
def test_unreachable_database_names_the_variable_never_the_password(project, run: Run, verbose: bool) -> None:
    project(None)
    args = ["--verbose"] if verbose else []
    result = run(*args, "db", "status", env={"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"})
    assert "pw" not in result.stdout + result.stderr
    if verbose:  # the traceback first, the one line last
        assert result.returncode == 2 and "Traceback" in result.stderr
        message = result.stderr.splitlines()[-1]
    else:
        message = one_error_line(result)
    assert "127.0.0.1:1" in message and "set DATABASE_URL" in message


def test_missing_corpus(project, run: Run, tmp_path: Path) -> None:
    project(None)
    message = one_error_line(run("scrape", env={"RAP_ANALYZER_SHARED_DIR": "/nonexistent"}))
    assert "/nonexistent" in message and "RAP_ANALYZER_SHARED_DIR" in message
    assert not (tmp_path / "data").exists()  # failed before any server started


def test_missing_input_file(project, run: Run, tmp_path: Path) -> None:
    project(None)
    message = one_error_line(run("prepare", "--tracks", str(tmp_path / "nowhere.parquet")))
    assert "nowhere.parquet" in message


def test_missing_genius_token(project, run: Run, tmp_path: Path) -> None:
    root = project({"scrape": {"sources": ["genius"], "dataset_sources": ["genius"], "artists": ["Nas"]}})
    (root / ".env").write_text("# no token here\n")
    message = one_error_line(run("scrape"))
    assert "GENIUS_ACCESS_TOKEN" in message
    assert not (tmp_path / "data").exists()


def test_parameter_out_of_range_names_file_key_value_and_bound(project, run: Run) -> None:
    root = project({"llm_eval": {"eval_limit": 0}})
    message = one_error_line(run("baselines"))
    assert str(root / "params.yaml") in message and "llm_eval.eval_limit = 0" in message
    assert "greater than or equal to 1" in message


def test_missing_parameters_file(run: Run, tmp_path: Path) -> None:
    message = one_error_line(run("db", "status"))
    assert str(tmp_path / "params.yaml") in message and "RAP_ANALYZER_ROOT" in message


RAISE_THROUGH_ENTRY_POINT = textwrap.dedent("""
    import sys
    from rap_analyzer import cli, errors

    @cli.app.command("boom")
    def boom(kind: str) -> None:
        raise {"fatal": errors.LLMAuthError("the LLM API refused the key in NOVITA_API_KEY (HTTP 401): set it"),
               "circuit": errors.CircuitOpenError("circuit open after 5 consecutive failures; retry in 60 s"),
               "bug": KeyError("not a known failure")}[kind]

    sys.argv = ["rap-analyzer", *sys.argv[1:]]
    cli.run()
""")


@pytest.mark.parametrize(("kind", "expected"), [("fatal", "NOVITA_API_KEY"), ("circuit", "circuit open")])
def test_remote_failures_through_the_entry_point(project, run: Run, kind: str, expected: str) -> None:
    project(None)
    secret = "sk-live-do-not-print-4242"
    result = run("boom", kind, python=RAISE_THROUGH_ENTRY_POINT, env={"NOVITA_API_KEY": secret})
    assert expected in one_error_line(result) and secret not in result.stdout + result.stderr


def test_unknown_exception_keeps_its_traceback(project, run: Run) -> None:
    project(None)
    result = run("boom", "bug", python=RAISE_THROUGH_ENTRY_POINT)
    assert result.returncode == 1 and "Traceback" in result.stderr and "KeyError" in result.stderr
    assert "error: " not in result.stderr
