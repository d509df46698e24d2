"""Fixtures for the store suites: real SQLite files, SQLite in memory, a fresh
PostgreSQL database, a local artifact directory and a real S3 API server (moto,
tests/conftest.py) on loopback."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from minio import Minio
from sqlalchemy import text

from service.domain.ports import ArtifactStore, MetadataStore
from service.settings import Settings
from service.stores import open_artifact_store, open_metadata_store
from service.stores.artifacts import LocalArtifactStore
from service.stores.s3 import S3ArtifactStore
from service.stores.sql import SqlMetadataStore
from tests.support.services import fresh_pg_database

# --- PostgreSQL ------------------------------------------------------------------


@pytest.fixture
def new_pg_database() -> Callable[[], contextlib.AbstractContextManager[str]]:
    """For tests that need a database nobody has migrated yet."""
    return fresh_pg_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One database for the session's store tests (emptied after each test)."""
    with fresh_pg_database() as url:
        yield url


# --- metadata stores -----------------------------------------------------------


def _truncate_all(store: SqlMetadataStore) -> None:
    from service.stores.schema import metadata

    names = ", ".join(table.name for table in metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names}"))


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """`memory` is SQLite in memory (`sqlite://`): one shared connection, no file."""
    return str(request.param)


@pytest.fixture
def store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL another process can open (SQL kinds only)."""
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'loopy.db'}"
    if store_kind == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    pytest.skip("the in-memory store cannot be shared")


@pytest.fixture
def store(store_kind: str, request: pytest.FixtureRequest) -> Iterator[MetadataStore]:
    url = "sqlite://" if store_kind == "memory" else str(request.getfixturevalue("store_url"))
    sql = open_metadata_store(url)
    assert isinstance(sql, SqlMetadataStore)
    try:
        yield sql
    finally:
        if store_kind == "postgresql":  # the database is shared by the session's tests
            _truncate_all(sql)
        sql.close()


# --- artifact stores -------------------------------------------------------------


S3_KEYS = {"s3_access_key": "loopy-test", "s3_secret_key": "loopy-test-secret"}


def raw_minio(endpoint: str) -> Minio:
    return Minio(
        endpoint.removeprefix("http://"),
        access_key=S3_KEYS["s3_access_key"],
        secret_key=S3_KEYS["s3_secret_key"],
        secure=False,
        region="us-east-1",
    )


def _corrupt_local(store: LocalArtifactStore, key: str) -> None:
    path = store.root / "objects" / key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    path.write_bytes(bytes(data))


def _corrupt_s3(store: S3ArtifactStore, key: str) -> None:
    """Overwrite the object's bytes behind the store's back, keeping its recorded sha256."""
    name = store.prefix + key
    info = store.client.stat_object(store.bucket, name)
    recorded = (info.metadata or {})["x-amz-meta-sha256"]
    response = store.client.get_object(store.bucket, name)
    try:
        data = bytearray(response.read())
    finally:
        response.close()
        response.release_conn()
    data[len(data) // 2] ^= 0xFF
    import io

    store.client.put_object(
        store.bucket, name, io.BytesIO(bytes(data)), len(data), metadata={"sha256": recorded}
    )


@pytest.fixture(params=["local", "s3"])
def artifact_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def artifacts(
    artifact_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[ArtifactStore, Callable[[str], None]]:
    """The store under test and a function that corrupts one of its objects in place."""
    if artifact_kind == "local":
        local = open_artifact_store(f"file://{tmp_path / 'artifacts'}")
        assert isinstance(local, LocalArtifactStore)
        return local, lambda key: _corrupt_local(local, key)
    endpoint = str(request.getfixturevalue("s3_endpoint"))
    bucket = f"loopy-{uuid.uuid4().hex[:12]}"
    settings = Settings(s3_endpoint=endpoint, **S3_KEYS)
    s3 = open_artifact_store(f"s3://{bucket}/team/artifacts", settings)
    assert isinstance(s3, S3ArtifactStore)
    return s3, lambda key: _corrupt_s3(s3, key)
