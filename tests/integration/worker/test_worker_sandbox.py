"""Fail closed (issue 8): a worker that cannot build the sandbox refuses every run with
SANDBOX_UNAVAILABLE and /readyz says so; the operator's explicit unsafe mode runs, and
says `sandbox: none` on the run, its evaluation and leaderboard row, over HTTP and gRPC."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from service.domain.models import FailureReason, RunState
from service.http.app import create_app

pytestmark = pytest.mark.slow


@contextmanager
def http_server(stack: Any) -> Iterator[str]:
    """The real HTTP app over the stack's core, on a loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(stack.core, stack.settings), host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def grpc_get_run(stack: Any, key: str, run_id: str) -> Any:
    import grpc

    from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
    from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
    from service.grpc.server import create_grpc_server

    async def go() -> Any:
        server, port = create_grpc_server(stack.core, "127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = rpc.LoopyServiceStub(channel)
                metadata = (("authorization", f"Bearer {key}"),)
                return await stub.GetRun(api.GetRunRequest(run_id=run_id), metadata=metadata)
        finally:
            await server.stop(None)

    return asyncio.run(go())


def test_worker_without_a_sandbox_refuses_to_train_and_readyz_says_so(
    make_stack, tiny_harness_dir
) -> None:
    stack = make_stack(LOOPY_SANDBOX_BWRAP="/nonexistent/bwrap")
    track = stack.track(stack.register(tiny_harness_dir), budget_s=2.0, calibration_runs=1)
    stack.start_worker("a")
    [calibration] = stack.core.meta.list_runs(track_id=track.id)[0]
    [run] = stack.wait([calibration.id], timeout_s=120)
    assert run.state == RunState.FAILED
    assert run.failure_reason == FailureReason.SANDBOX_UNAVAILABLE, run.failure_message
    assert "bwrap not found" in run.failure_message and "To grant it" in run.failure_message
    assert stack.worker_events("worker.sandbox_unavailable")
    assert not stack.worker_events("run.finished")  # nothing was trained
    with http_server(stack) as base:
        ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 503
    body = ready.json()
    assert body["checks"]["sandbox"] is False and body["checks"]["metadata_store"] is True
    assert body["details"]["sandbox"].startswith("SANDBOX_UNAVAILABLE: bwrap not found")


def test_unsafe_mode_says_sandbox_none_on_runs_evaluations_and_leaderboard(
    make_stack, tiny_harness_dir
) -> None:
    stack = make_stack(LOOPY_UNSAFE_NO_SANDBOX="1")
    key = stack.core.bootstrap_admin("http-reader").api_key
    track = stack.track(stack.register(tiny_harness_dir), budget_s=2.0, calibration_runs=1)
    stack.start_worker("a")
    [calibration] = stack.core.meta.list_runs(track_id=track.id)[0]
    [run] = stack.wait([calibration.id], timeout_s=180)
    assert run.state == RunState.SUCCEEDED, (run.failure_reason, run.failure_message)
    assert run.summary is not None and run.summary.sandbox == "none"
    assert stack.worker_events("worker.sandbox_none")
    board = stack.core.get_leaderboard(stack.admin, track.id)
    assert [e.sandbox for e in board.entries] == ["none"]

    with http_server(stack) as base:
        headers = {"Authorization": f"Bearer {key}"}
        got = httpx.get(f"{base}/v1/runs/{run.id}", headers=headers, timeout=30)
        assert got.status_code == 200, got.text
        assert got.json()["summary"]["sandbox"] == "none"
        rows = httpx.get(f"{base}/v1/tracks/{track.id}/leaderboard", headers=headers, timeout=30)
        assert [e["sandbox"] for e in rows.json()["entries"]] == ["none"]
        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 200
        assert ready.json()["details"]["sandbox"].startswith("none")
    assert grpc_get_run(stack, key, run.id).run.summary.sandbox == "none"


def test_sealed_runs_say_bubblewrap(make_stack, tiny_harness_dir) -> None:
    from trainer.runner.sandbox import SandboxSettings, sandbox_problem

    if sandbox_problem(SandboxSettings()) is not None:
        pytest.skip(f"no sandbox here: {sandbox_problem(SandboxSettings())}")
    stack = make_stack()
    track = stack.track(stack.register(tiny_harness_dir), budget_s=2.0, calibration_runs=1)
    stack.start_worker("a")
    [calibration] = stack.core.meta.list_runs(track_id=track.id)[0]
    [run] = stack.wait([calibration.id], timeout_s=180)
    assert run.state == RunState.SUCCEEDED, (run.failure_reason, run.failure_message)
    assert run.summary is not None and run.summary.sandbox == "bubblewrap"
    board = stack.core.get_leaderboard(stack.admin, track.id)
    assert [e.sandbox for e in board.entries] == ["bubblewrap"]
