"""Metric points reach the store within a second, in batches, surviving a store blip."""

from __future__ import annotations

import threading
import time

from service.worker.forwarding import Forwarder, Heartbeat


class RecordingCore:
    """The two worker-facing calls the forwarder makes, recorded with their time."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[tuple[float, list]] = []
        self.logs: list[str] = []
        self.failures = failures
        self.alive = True

    def record_metrics(self, run_id: str, points: list) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store unreachable")
        self.batches.append((time.monotonic(), points))

    def record_log(self, run_id: str, text: str) -> None:
        self.logs.append(text)

    def heartbeat(self, run_id: str, worker_id: str) -> bool:
        return self.alive


def _points(step: int, n: int = 1) -> list[dict]:
    return [{"step": step, "name": f"m{i}", "value": 1.0, "wall_seconds": 0.1} for i in range(n)]


def test_points_are_batched_and_visible_within_a_second() -> None:
    core = RecordingCore()
    forwarder = Forwarder(core, "run-1")  # type: ignore[arg-type]
    forwarder.start()
    sent = time.monotonic()
    for step in range(50):
        forwarder.on_metrics(_points(step, 2))
    forwarder.on_log("step 0\n")
    deadline = time.monotonic() + 2
    while not core.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert core.batches and core.batches[0][0] - sent < 1.0
    forwarder.close()
    assert sum(len(points) for _, points in core.batches) == 100
    assert len(core.batches) < 10  # batched, not one write per point
    assert "".join(core.logs) == "step 0\n"


def test_a_failed_write_is_retried_without_losing_points() -> None:
    core = RecordingCore(failures=2)
    forwarder = Forwarder(core, "run-1", interval_s=0.05)  # type: ignore[arg-type]
    forwarder.start()
    forwarder.on_metrics(_points(1, 3))
    time.sleep(0.3)
    forwarder.on_metrics(_points(2, 3))
    forwarder.close()
    steps = sorted(p.step for _, points in core.batches for p in points)
    assert steps == [1, 1, 1, 2, 2, 2]


def test_heartbeat_refused_sets_cancel() -> None:
    core = RecordingCore()
    cancel = threading.Event()
    heartbeat = Heartbeat(core, "run-1", "w", 0.05, cancel)  # type: ignore[arg-type]
    heartbeat.start()
    time.sleep(0.2)
    assert not cancel.is_set()
    core.alive = False  # the run was cancelled: no longer RUNNING on this worker
    assert cancel.wait(1.0)
    heartbeat.stop()
    assert heartbeat.lost.is_set()
