"""Shared fixtures: real embedded PostgreSQL and Redis servers (one each per session), a fresh migrated
database per test, and the shared corpus through the same setting the pipeline uses."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from helpers import params_with
from psycopg.conninfo import make_conninfo

from rap_analyzer.config import Params
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate

# Fixtures that start a real embedded server: a test using one is `slow` (deselected by `make test-fast`).
SERVER_FIXTURES = {"pg_server_url", "redis_server_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def params() -> Params:
    """The repository's params.yaml as it is (tests change values through `helpers.params_with`)."""
    return params_with()


@pytest.fixture(scope="session")
def shared_dir(params: Params) -> Path:
    path = params.shared_path("")
    if not (path / "corpus").is_dir():
        pytest.fail(f"shared data not found at {path}: set RAP_ANALYZER_SHARED_DIR")
    return path


# A server that outlives the test run, started by its caller (`scripts/mutate.py` starts one of each for all of
# its mutants: mutmut's forked test runs exit without the teardown that stops a server they started). Tests create
# and drop their own databases and flush Redis, so never point these at a server holding data you keep.
TEST_PG_URL_ENV, TEST_REDIS_URL_ENV = "RAP_ANALYZER_TEST_PG_URL", "RAP_ANALYZER_TEST_REDIS_URL"


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get(TEST_PG_URL_ENV) or services.embedded_postgres_url(tmp_path_factory.mktemp("pg") / "data")


@pytest.fixture
def db_factory(pg_server_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, migrated databases for one test (several when a test compares runs); drops them after."""
    names: list[str] = []

    def make() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        url = make_conninfo(pg_server_url, dbname=name)
        with psycopg.connect(url) as conn:
            migrate(conn)
            conn.commit()
        return url

    yield make
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(db_factory: Callable[[], str]) -> str:
    return db_factory()


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as conn:
        yield conn


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get(TEST_REDIS_URL_ENV) or services.embedded_redis_url(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis_client(redis_server_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
