"""Fixtures for the HTTP transport tests: a real `Loopy` core over the SQL store
(SQLite in memory, or a SQLite file), the in-memory artifact store and a recording
dispatcher; tests play the worker through the core's worker-facing methods."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from service.domain.models import (
    MetricPoint,
    RunOutcome,
    RunState,
    RunSummary,
)
from service.domain.service import Loopy
from service.http.app import create_app
from service.settings import Settings
from tests.support.cores import TINY_TRAIN_SOURCE, harness_record, make_core
from tests.support.fakes import RecordingDispatcher
from tests.support.servers import LiveServer, free_port

BASELINE_SOURCE = TINY_TRAIN_SOURCE
MAX_REQUEST_BYTES = 64_000
WORKER_ID = "worker-http-test"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    # an API without a worker beside it: /readyz does not probe the sandbox (see
    # tests/integration/worker/test_worker_sandbox.py for that check)
    return Settings(
        data_dir=str(tmp_path), max_request_bytes=MAX_REQUEST_BYTES, readyz_checks_sandbox=False
    )


@pytest.fixture
def store_kind() -> str:
    """`memory` (SQLite in memory); modules that also run on a SQLite file parametrise it."""
    return "memory"


@pytest.fixture
def core(store_kind: str, tmp_path: Any) -> Iterator[Loopy]:
    core = make_core(f"sqlite:///{tmp_path / 'loopy.db'}" if store_kind == "sqlite" else "")
    yield core
    core.meta.close()


@pytest.fixture
def dispatcher(core: Loopy) -> RecordingDispatcher:
    assert isinstance(core.dispatcher, RecordingDispatcher)
    return core.dispatcher


@pytest.fixture
def harness_id(core: Loopy) -> str:
    """A registered harness (its files are the trainer's business, not the transport's)."""
    harness = harness_record(
        "00aa11bb22cc33dd",
        description="transport-test harness",
        time_budget_s=5.0,
        size_bytes=1024,
        create_time=datetime.now(UTC),
    )
    core.meta.put_harness(harness)
    return harness.id


@pytest.fixture
async def client(core: Loopy, settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(core, settings)) as test_client:
        yield test_client


def track_body(harness_id: str, track_id: str = "http-track", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "track_id": track_id,
        "harness_id": harness_id,
        "display_name": "HTTP test track",
        "baseline_source": BASELINE_SOURCE,
        "device_class": "cpu",
        "time_budget_s": 5.0,
        "policy": {"calibration_runs": 2, "replicates": 2, "k_sigma": 2.0},
    }
    body.update(extra)
    return body


def finish_run(
    core: Loopy,
    run_id: str,
    val_bpb: float | None = 1.0,
    *,
    steps: int = 5,
    state: RunState = RunState.SUCCEEDED,
    log_text: str = "step 0 loss 5.5\n",
    speed: float | None = 100.0,
) -> None:
    """Play the worker: claim the run, report metrics and a log, complete it
    (`speed`: the worker's machine-speed probe)."""
    assert core.claim_run(run_id, WORKER_ID) is not None
    core.record_metrics(
        run_id,
        [
            MetricPoint(step=s, name=name, value=value, wall_seconds=0.1 * s)
            for s in range(steps)
            for name, value in (("loss", 5.0 - 0.1 * s), ("lr", 3e-4))
        ],
    )
    core.record_log(run_id, log_text)
    log_ref = core.artifacts.put_bytes(f"runs/{run_id}/log", log_text.encode())
    summary = RunSummary(
        val_bpb=val_bpb,
        training_seconds=1.5,
        total_seconds=2.0,
        total_tokens=10_000,
        num_steps=steps,
        num_params=65_536,
        peak_memory_mb=12.0,
        device_name="cpu",
        artifacts={"log": log_ref},
        speed_probe=speed,
    )
    core.complete_run(run_id, WORKER_ID, RunOutcome(state=state, summary=summary))


def finish_queued_runs(core: Loopy, track_id: str, values: list[float]) -> list[str]:
    """Finish every QUEUED run of a track, oldest first, with the given metric values."""
    runs, _ = core.meta.list_runs(track_id=track_id, states=[RunState.QUEUED], page_size=100)
    runs = sorted(runs, key=lambda r: r.create_time)
    assert len(runs) == len(values), (len(runs), values)
    for run, value in zip(runs, values, strict=True):
        finish_run(core, run.id, value)
    return [r.id for r in runs]


def settle_evaluation(
    core: Loopy,
    evaluation_id: str,
    candidate: Any,
    reference: Any,
    *,
    candidate_speed: float = 100.0,
    reference_speed: float = 100.0,
) -> Any:
    """Play the workers through a paired evaluation, round by round: the queued runs of
    pair i finish with candidate(i) / reference(i) until the evaluation is decided."""
    for _ in range(60):
        evaluation = core.meta.get_evaluation(evaluation_id)
        assert evaluation is not None
        if evaluation.state.value != "PENDING":
            return evaluation
        for i, pair in enumerate(evaluation.pairs):
            for run_id, value, speed in (
                (pair.candidate_run_id, candidate(i), candidate_speed),
                (pair.reference_run_id, reference(i), reference_speed),
            ):
                run = core.meta.get_run(run_id)
                if run is not None and run.state is RunState.QUEUED:
                    finish_run(core, run_id, value, speed=speed)
    raise AssertionError("the evaluation never finished")


@pytest.fixture
async def track(
    client: AsyncTestClient[Any], core: Loopy, admin_key: str, harness_id: str
) -> dict[str, Any]:
    """A track whose calibration runs have finished (noise is known)."""
    response = await client.post("/v1/tracks", json=track_body(harness_id), headers=auth(admin_key))
    assert response.status_code == 201, response.text
    finish_queued_runs(core, "http-track", [1.000, 1.002])
    got = await client.get("/v1/tracks/http-track", headers=auth(admin_key))
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


class Kit:
    """Helpers for test modules (conftest is not importable under --import-mode=importlib)."""

    BASELINE_SOURCE = BASELINE_SOURCE
    MAX_REQUEST_BYTES = MAX_REQUEST_BYTES
    auth = staticmethod(auth)
    track_body = staticmethod(track_body)
    finish_run = staticmethod(finish_run)
    finish_queued_runs = staticmethod(finish_queued_runs)
    settle_evaluation = staticmethod(settle_evaluation)
    free_port = staticmethod(free_port)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


# --- a real server on a loopback socket ---------------------------------------------


@pytest.fixture
def live_server(core: Loopy, settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(create_app(core, settings)) as server:
        yield server


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=10) as c:
        yield c
