"""The machine's shared PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).

Without them a test skips, saying which service is missing; with `CI=true` it fails
instead, so a CI job whose services did not come up cannot pass by skipping."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
REDIS_URL = "redis://127.0.0.1:6379/11"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> NoReturn:
    """Skip (or, in CI, fail) a test because a service or program it needs is absent."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: a missing service fails the suite)", pytrace=False)
    pytest.skip(f"{what}; set CI=true to make this a failure")


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "loopy_test") -> Iterator[str]:
    """Create `<prefix>_<random>` on the shared server, yield its URL, drop it afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as error:
        missing(f"PostgreSQL on 127.0.0.1:5432 is unreachable ({error})")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def shared_redis_url() -> str:
    """The shared Redis (database 11, kept apart from anything else on the server)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        missing(f"Redis on 127.0.0.1:6379 is unreachable ({error})")
    return REDIS_URL
