"""Fixtures several suites share: API keys over a suite's `core`, the tiny harness
real runs train on, an S3 API server on loopback, and the machine's PostgreSQL and
Redis (see tests/support/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.domain.service import CreateAgentRequest, Loopy
from tests.support.harness import build_tiny_harness
from tests.support.services import fresh_pg_database, shared_redis_url


@pytest.fixture
def admin_key(core: Loopy) -> str:
    """The first admin's key, on the `core` fixture of the suite that asks."""
    return core.bootstrap_admin("admin").api_key


@pytest.fixture
def agent_key(core: Loopy, admin_key: str) -> str:
    admin = core.authenticate(admin_key)
    return core.create_agent(admin, CreateAgentRequest(name="agent-1")).api_key


@pytest.fixture(scope="session")
def tiny_harness_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny harness (tests/support/harness.py), prepared once per session."""
    return build_tiny_harness(tmp_path_factory.mktemp("tiny-harness"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API server (moto) on a loopback port; tests use their own buckets."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the shared PostgreSQL, dropped after the test."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The test once on a SQLite file and once on a fresh PostgreSQL database (where NUL
    characters and 64-bit limits bite)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'loopy.db'}"
        return
    with fresh_pg_database("loopy_sql") as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    """The shared Redis (skips, or fails under CI=true, when it is down)."""
    return shared_redis_url()
