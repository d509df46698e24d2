"""Fixtures for the HTTP-vs-gRPC contract test: two fresh domain cores with the
same starting state, one served by the Litestar app, one by the grpc.aio server
(127.0.0.1, port 0)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from service.domain.fakes import MemoryArtifactStore, RecordingDispatcher
from service.domain.models import Harness
from service.domain.service import Loopy
from service.settings import load_settings
from service.stores.memory import MemoryMetadataStore

MAX_REQUEST_BYTES = 64 * 1024


def fresh_core() -> Loopy:
    core = Loopy(MemoryMetadataStore(), MemoryArtifactStore(), RecordingDispatcher())
    core.meta.put_harness(
        Harness(
            id="harness0001",
            description="tiny test harness",
            vocab_size=256,
            seq_len=64,
            eval_tokens=4096,
            bos_token_id=0,
            time_budget_s=10.0,
            metric="val_bpb",
            files={"manifest.json": "0" * 64},
            size_bytes=1234,
            create_time=datetime(2025, 1, 1, tzinfo=UTC),
        )
    )
    return core


@pytest.fixture
def http_core() -> Loopy:
    return fresh_core()


@pytest.fixture
def grpc_core() -> Loopy:
    return fresh_core()


@pytest.fixture
async def http_client(http_core: Loopy, tmp_path: Path) -> AsyncIterator[object]:
    app_module = pytest.importorskip("service.http.app", reason="the HTTP app is not built yet")
    from litestar.testing import AsyncTestClient

    settings = load_settings(
        environ={}, data_dir=str(tmp_path), max_request_bytes=MAX_REQUEST_BYTES
    )
    app = app_module.create_app(http_core, settings)
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
async def grpc_channel(grpc_core: Loopy) -> AsyncIterator[grpc.aio.Channel]:
    from service.grpc.server import create_grpc_server

    server, port = create_grpc_server(grpc_core, "127.0.0.1:0", max_request_bytes=MAX_REQUEST_BYTES)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)
