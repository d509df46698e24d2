"""Fixtures for the gRPC integration tests: a real grpc.aio server on 127.0.0.1
port 0 over one domain core (SQLite in memory, recording dispatcher), a real
channel, keys, and a helper that plays the worker for a run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest

from service.domain.models import (
    MetricPoint,
    Run,
    RunOutcome,
    RunState,
    RunSummary,
)
from service.domain.service import Loopy
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
from service.grpc.server import create_grpc_server
from tests.support.cores import TINY_TRAIN_SOURCE, harness_record, make_core

MAX_REQUEST_BYTES = 64 * 1024


def play_worker(
    core: Loopy,
    run_id: str,
    val_bpb: float | None,
    *,
    steps: int = 3,
    worker_id: str = "worker-1",
    log_text: str = "step 0 loss 5.5\n",
) -> Run:
    """Do what a worker does: claim, report metrics and logs, complete."""
    assert core.claim_run(run_id, worker_id) is not None
    core.record_metrics(
        run_id,
        [
            MetricPoint(step=s, name="loss", value=5.5 - s, wall_seconds=0.1 * s)
            for s in range(steps)
        ],
    )
    core.record_log(run_id, log_text)
    if val_bpb is None:
        outcome = RunOutcome(state=RunState.FAILED, failure_reason=None, failure_message="crashed")
    else:
        outcome = RunOutcome(
            state=RunState.SUCCEEDED,
            summary=RunSummary(
                val_bpb=val_bpb, training_seconds=1.0, total_seconds=2.0, num_steps=steps
            ),
        )
    finished = core.complete_run(run_id, worker_id, outcome)
    assert finished is not None
    return finished


@pytest.fixture
def baseline_source() -> str:
    return TINY_TRAIN_SOURCE


@pytest.fixture
def play(core: Loopy) -> Callable[..., Run]:
    """`play(run_id, val_bpb, steps=3)`: be the worker for one run."""

    def play_run(run_id: str, val_bpb: float | None, **kwargs: Any) -> Run:
        return play_worker(core, run_id, val_bpb, **kwargs)

    return play_run


@pytest.fixture
def core() -> Iterator[Loopy]:
    core = make_core()
    core.meta.put_harness(harness_record())
    yield core
    core.meta.close()


@pytest.fixture
async def grpc_port(core: Loopy) -> AsyncIterator[int]:
    server, port = create_grpc_server(core, "127.0.0.1:0", max_request_bytes=MAX_REQUEST_BYTES)
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


@pytest.fixture
async def channel(grpc_port: int) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> rpc.LoopyServiceStub:
    return rpc.LoopyServiceStub(channel)
