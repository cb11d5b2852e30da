"""Redaction in-process (issue 16): `redact_url` and `service_url` called directly, so that mutation testing sees
them (tests/test_redaction.py runs the console script, which mutmut cannot). Each expected `scheme://host:port/db`
is written out by hand from the input; the password must be absent from the output in every form psycopg accepts
(URL, percent-encoded, `?password=`, key=value plain and quoted) and in malformed inputs, whose error names the
variable only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from rap_analyzer import config
from rap_analyzer.config import service_url
from rap_analyzer.errors import ConfigError
from rap_analyzer.store.services import redact_url

PW = "Qz9-Wk4"

# (input, its password, what may be shown): host, port and database only, each as libpq (or, for the other
# schemes, the URL) reads it.
CASES = [
    (f"postgresql://alice:{PW}@db.example:5433/songs", PW, "postgresql://db.example:5433/songs"),
    (f"postgres://alice:{PW}@db.example/songs", PW, "postgresql://db.example/songs"),  # the other spelling
    (f"postgresql://alice:{PW.replace('-', '%2D')}@db.example:5433/songs", PW.replace("-", "%2D"),
     "postgresql://db.example:5433/songs"),
    (f"postgresql://alice@db.example:5433/songs?password={PW}", PW, "postgresql://db.example:5433/songs"),
    (f"postgresql://alice:{PW}@db.example:5433", PW, "postgresql://db.example:5433"),  # no database
    (f"postgresql://alice:{PW}@db.example", PW, "postgresql://db.example"),  # no port either
    (f"postgresql:///songs?password={PW}", PW, "postgresql://?/songs"),  # no host: the local socket
    (f"host=db.example port=5433 user=alice password={PW} dbname=songs", PW, "postgresql://db.example:5433/songs"),
    (f"host=db.example user=alice password='{PW} x' dbname=songs", f"{PW} x", "postgresql://db.example/songs"),
    (f"password={PW}", PW, "postgresql://?"),
    (f"redis://:{PW}@cache.example:6379/0", PW, "redis://cache.example:6379/0"),
    (f"rediss://alice:{PW}@cache.example/1", PW, "rediss://cache.example/1"),
    (f"redis://:{PW}@cache.example:port/0", PW, "redis://cache.example/0"),  # not a port: dropped
    (f"http://alice:{PW}@db.example:5432/x", PW, "http://db.example:5432/x"),
    # Malformed: nothing of the input but its scheme, since any other part may be the password.
    (f"redis:{PW}", PW, "redis://?"),
    (f"host=db.example password='{PW}", PW, "://?"),  # an unterminated quote: libpq rejects it
    (f"postgresql://alice:{PW}@", PW, "postgresql://?"),
    # A password with an unencoded "/" or "@" (or, in a Redis URL, "#" or "?") ends the user info early: libpq
    # and urlsplit take its start for a host or port and its end for the database, so only the scheme is shown.
    ("postgresql://alice:Qz9/Wk4@db.example:5432/x", "Qz9/Wk4", "postgresql://?"),
    ("postgresql://alice:12/Wk4@db.example:5432/x", "12/Wk4", "postgresql://?"),
    ("postgresql://alice:Qz9@Wk4@db.example:5432/x", "Qz9@Wk4", "postgresql://?"),
    ("redis://alice:12/Wk4@cache.example:6379/0", "12/Wk4", "redis://?"),
    ("redis://alice:12#Wk4@cache.example:6379/0", "12#Wk4", "redis://?"),
    ("redis://alice:12?Wk4@cache.example:6379/0", "12?Wk4", "redis://?"),
]


@pytest.mark.parametrize(("url", "password", "shown"), CASES)
def test_redacted_url_is_host_port_and_database_only(url: str, password: str, shown: str) -> None:
    redacted = redact_url(url)
    assert redacted == shown
    # Neither the password nor a piece of it cut at the character that ended the user info early.
    assert not any(piece in redacted for piece in {password, *re.split(r"[/@#?]", password)})


# --- service_url: the environment first, then .env; a malformed value is named by its variable only ------------

@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project root with no .env yet and neither variable set; `get_secrets` is read afresh."""
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(tmp_path))
    for variable in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(variable, raising=False)
    config.get_secrets.cache_clear()
    yield tmp_path
    config.get_secrets.cache_clear()


@pytest.mark.parametrize(("field", "variable", "url"), [
    ("database_url", "DATABASE_URL", f"postgresql://alice:{PW}@db.example:5433/songs"),
    ("redis_url", "REDIS_URL", f"redis://:{PW}@cache.example:6379/0"),
])
def test_service_url_reads_the_environment_before_dotenv(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                         field: str, variable: str, url: str) -> None:
    assert service_url(field) is None  # type: ignore[arg-type]  # neither: the embedded server
    dotenv = url.replace(".example", ".dotenv")
    (project / ".env").write_text(f"{variable}={dotenv}\n")
    config.get_secrets.cache_clear()
    assert service_url(field) == dotenv  # type: ignore[arg-type]
    monkeypatch.setenv(variable, url)
    assert service_url(field) == url  # type: ignore[arg-type]
    monkeypatch.setenv(variable, "")  # empty counts as unset
    assert service_url(field) == dotenv  # type: ignore[arg-type]
    other = "DATABASE_URL" if variable == "REDIS_URL" else "REDIS_URL"
    monkeypatch.setenv(variable, "")
    monkeypatch.setenv(other, url.replace(".example", ".other"))  # the other service's variable is not read
    assert service_url(field) == dotenv  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "variable", "url"), [
    ("database_url", "DATABASE_URL", f"http://alice:{PW}@db.example:5432/x"),
    ("database_url", "DATABASE_URL", f"postgresql://alice:{PW}@db.example:port/x"),
    ("redis_url", "REDIS_URL", f"cache.example:{PW}"),
])
@pytest.mark.parametrize("source", ["environment", "dotenv"])
def test_a_malformed_service_url_is_named_by_its_variable_only(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                               field: str, variable: str, url: str,
                                                               source: str) -> None:
    if source == "environment":
        monkeypatch.setenv(variable, url)
    else:
        (project / ".env").write_text(f"{variable}={url}\n")
    with pytest.raises(ConfigError) as info:
        service_url(field)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"{variable} is not a ") and f"unset {variable}" in message
    assert PW not in message and url not in message
    # Raised afresh without the validation error chained to it: a traceback shows this one message only.
    assert info.value.__cause__ is None and info.value.__suppress_context__
