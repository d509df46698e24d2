"""Fixtures for the client tests: the real HTTP app served by uvicorn on a
loopback port over a real `Loopy` core (SQLite file store, recording
dispatcher), and a fake worker thread that plays the worker through the core's
worker-facing methods (claim_run, record_metrics, complete_run), so runs finish
while the clients watch them."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from service.domain.models import MetricPoint, RunOutcome, RunState, RunSummary
from service.domain.service import DomainSettings, Loopy
from service.http.app import create_app
from service.settings import Settings
from tests.support.cores import TINY_TRAIN_SOURCE, harness_record, make_core
from tests.support.servers import LiveServer

BASELINE_SOURCE = TINY_TRAIN_SOURCE
HARNESS_ID = "00aa11bb22cc33dd"
TRACK_ID = "client-track"
WORKER_ID = "worker-clients-test"
METRIC_STEPS = 6  # each run reports loss and lr for steps 0..5
MAX_METRIC_POINTS = 5  # small, so GetMetrics pages and the clients must follow next_since_step
TRAINING_S = 0.15  # how long a fake run stays RUNNING (so watchers see it live)


def val_bpb_for(source: str, seed: int) -> float:
    """The fake worker's metric: a source that sets LEARNING_RATE = 1e-3 is clearly
    better than the baseline; the seed adds a little noise."""
    base = 0.95 if re.search(r"LEARNING_RATE = 1e-3\b", source) else 1.0
    return base + 0.001 * (seed % 3)


class FakeWorker:
    """Finishes every QUEUED run (unless paused), like a worker would, through the core."""

    def __init__(self, core: Loopy) -> None:
        self.core = core
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-worker", daemon=True)
        self.errors: list[BaseException] = []

    def __enter__(self) -> FakeWorker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            if self.paused.is_set():
                continue
            try:
                runs, _ = self.core.meta.list_runs(states=[RunState.QUEUED], page_size=100)
                for run in sorted(runs, key=lambda r: r.create_time):
                    self._execute(run.id)
            except BaseException as error:  # surfaced by the fixture's teardown
                self.errors.append(error)
                return

    def _execute(self, run_id: str) -> None:
        assignment = self.core.claim_run(run_id, WORKER_ID)
        if assignment is None:
            return
        time.sleep(TRAINING_S)
        self.core.record_metrics(
            run_id,
            [
                MetricPoint(step=s, name=name, value=value, wall_seconds=0.05 * s)
                for s in range(METRIC_STEPS)
                for name, value in (("loss", 5.0 - 0.5 * s), ("lr", 3e-4))
            ],
        )
        log_text = "".join(f"step {s} loss {5.0 - 0.5 * s:.2f}\n" for s in range(METRIC_STEPS))
        self.core.record_log(run_id, log_text)
        log_ref = self.core.artifacts.put_bytes(f"runs/{run_id}/log", log_text.encode())
        summary = RunSummary(
            val_bpb=val_bpb_for(assignment.source, assignment.run.seed),
            training_seconds=TRAINING_S,
            total_seconds=TRAINING_S + 0.1,
            total_tokens=4_096,
            num_steps=METRIC_STEPS,
            num_params=65_536,
            peak_memory_mb=12.0,
            device_name="cpu",
            artifacts={"log": log_ref},
        )
        self.core.complete_run(
            run_id, WORKER_ID, RunOutcome(state=RunState.SUCCEEDED, summary=summary)
        )


@pytest.fixture
def core(tmp_path: Any) -> Iterator[Loopy]:
    """A core over a real SQLite store (file in tmp_path), as `loopy up` runs it."""
    core = make_core(
        f"sqlite:///{tmp_path / 'loopy.db'}",
        DomainSettings(max_metric_points=MAX_METRIC_POINTS, watch_poll_s=0.05),
    )
    core.meta.put_harness(
        harness_record(
            HARNESS_ID,
            description="client-test harness",
            time_budget_s=5.0,
            size_bytes=1024,
            create_time=datetime.now(UTC),
        )
    )
    yield core
    core.meta.close()


@pytest.fixture
def worker(core: Loopy) -> Iterator[FakeWorker]:
    with FakeWorker(core) as fake:
        yield fake
    assert not fake.errors, fake.errors


@pytest.fixture
def base_url(core: Loopy, tmp_path: Any) -> Iterator[str]:
    settings = Settings(data_dir=str(tmp_path))
    with LiveServer(create_app(core, settings)) as server:
        yield server.url


def track_fields() -> dict[str, Any]:
    return {
        "display_name": "Client test track",
        "baseline_source": BASELINE_SOURCE,
        "device_class": "cpu",
        "time_budget_s": 5.0,
        "policy": {"calibration_runs": 2, "replicates": 2, "k_sigma": 2.0},
    }


@pytest.fixture
def track(base_url: str, admin_key: str, worker: FakeWorker) -> str:
    """A track created through the SDK whose calibration runs have finished."""
    from loopy_sdk import connect

    with connect(base_url, admin_key) as admin:
        admin.create_track(TRACK_ID, HARNESS_ID, **track_fields())
        deadline = time.monotonic() + 20
        while admin.get_track(TRACK_ID).noise_std is None:
            assert time.monotonic() < deadline, "calibration did not finish"
            time.sleep(0.05)
    return TRACK_ID


class Kit:
    """Constants and helpers for the test modules (conftest is not importable under
    --import-mode=importlib)."""

    BASELINE_SOURCE = BASELINE_SOURCE
    HARNESS_ID = HARNESS_ID
    METRIC_STEPS = METRIC_STEPS
    MAX_METRIC_POINTS = MAX_METRIC_POINTS
    track_fields = staticmethod(track_fields)
    val_bpb_for = staticmethod(val_bpb_for)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
