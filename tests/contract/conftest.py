"""Fixtures for the HTTP-vs-gRPC contract test: two fresh domain cores with the
same starting state, one served by the Litestar app, one by the grpc.aio server
(127.0.0.1, port 0)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from litestar.testing import AsyncTestClient

from service.domain.service import Loopy
from service.grpc.server import create_grpc_server
from service.http.app import create_app
from service.settings import load_settings
from tests.support.cores import harness_record, make_core

MAX_REQUEST_BYTES = 64 * 1024


def fresh_core() -> Loopy:
    core = make_core()
    core.meta.put_harness(harness_record())
    return core


@pytest.fixture
def http_core() -> Iterator[Loopy]:
    core = fresh_core()
    yield core
    core.meta.close()


@pytest.fixture
def grpc_core() -> Iterator[Loopy]:
    core = fresh_core()
    yield core
    core.meta.close()


@pytest.fixture
async def http_client(http_core: Loopy, tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = load_settings(
        environ={}, data_dir=str(tmp_path), max_request_bytes=MAX_REQUEST_BYTES
    )
    async with AsyncTestClient(app=create_app(http_core, settings)) as client:
        yield client


@pytest.fixture
async def grpc_channel(grpc_core: Loopy) -> AsyncIterator[grpc.aio.Channel]:
    server, port = create_grpc_server(grpc_core, "127.0.0.1:0", max_request_bytes=MAX_REQUEST_BYTES)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)
