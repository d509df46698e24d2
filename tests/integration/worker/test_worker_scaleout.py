"""Scale-out: Redis broker, PostgreSQL, an S3 server, two worker processes."""

from __future__ import annotations

import hashlib
import os
import signal
import uuid
from collections import Counter

import httpx
import pytest

from service.domain.models import FailureReason, LaunchRunRequest, RunState

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def scaleout(make_stack, redis_url, pg_url, s3_endpoint):  # type: ignore[no-untyped-def]
    def make(**extra: str):  # type: ignore[no-untyped-def]
        return make_stack(
            LOOPY_BROKER_URL=redis_url,
            LOOPY_DATABASE_URL=pg_url,
            LOOPY_ARTIFACTS_URL=f"s3://loopy-{uuid.uuid4().hex[:10]}",
            LOOPY_S3_ENDPOINT=s3_endpoint,
            LOOPY_S3_ACCESS_KEY="loopy-test",
            LOOPY_S3_SECRET_KEY="loopy-test-secret",
            **extra,
        )

    return make


def _wait_for_consumers(stack, count: int, helpers) -> None:  # type: ignore[no-untyped-def]
    app = stack.core.dispatcher.app

    def ready() -> bool:
        return len(app.control.ping(timeout=0.5) or []) >= count

    helpers.wait_until(ready, timeout_s=90, what=f"{count} workers to answer a ping")


def test_six_runs_on_two_workers_each_trained_once(scaleout, tiny_harness_dir, helpers) -> None:
    stack = scaleout()
    track = stack.track(stack.register(tiny_harness_dir), budget_s=2.0, calibration_runs=1)
    stack.start_worker("a")
    stack.start_worker("b")
    _wait_for_consumers(stack, 2, helpers)

    launched = [
        stack.core.launch_run(stack.admin, LaunchRunRequest(track_id=track.id, seed=100 + i))
        for i in range(6)
    ]
    runs = stack.wait([r.id for r in launched], timeout_s=180)

    for run in runs:
        assert run.state == RunState.SUCCEEDED, (run.failure_reason, run.failure_message)
        assert run.attempt == 1
    started = Counter(e["run_id"] for e in stack.worker_events("run.started"))
    assert all(started[run.id] == 1 for run in runs), started
    assert len({run.worker_id for run in runs}) == 2, "both workers took runs"

    for run in runs:
        ref = run.summary.artifacts["checkpoint"]
        data = stack.core.artifacts.get_bytes(ref.key)
        assert hashlib.sha256(data).hexdigest() == ref.sha256
        url = stack.core.artifacts.presigned_url(ref.key)
        assert url is not None
        assert hashlib.sha256(httpx.get(url).content).hexdigest() == ref.sha256


def test_worker_killed_mid_run(scaleout, tiny_harness_dir, helpers) -> None:
    stack = scaleout(LOOPY_HEARTBEAT_TIMEOUT_S="3")
    harness_id = stack.register(tiny_harness_dir)
    workers = {"a": stack.start_worker("a"), "b": stack.start_worker("b")}
    _wait_for_consumers(stack, 2, helpers)
    # The track's one calibration run is the run whose worker is killed.
    track = stack.track(harness_id, budget_s=8.0, calibration_runs=1)
    [run] = stack.core.meta.list_runs(track_id=track.id)[0]

    stack.wait([run.id], timeout_s=60, states={RunState.RUNNING})
    helpers.wait_until(
        lambda: stack.core.get_metrics(stack.admin, run.id, None, None).points,
        timeout_s=60,
        what="training to start",
    )
    owner_pid = int(stack.run(run.id).worker_id.split(":")[1])
    victim = next(p for p in workers.values() if p.pid == owner_pid)
    children = helpers.descendants(victim.pid)
    assert children
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    # No orphan: the training child dies with its supervisor.
    helpers.wait_until(lambda: not helpers.live(children), timeout_s=10, what="orphans to die")

    [final] = stack.wait([run.id], timeout_s=90)
    if final.state == RunState.SUCCEEDED:
        assert final.attempt == 2
        assert int(final.worker_id.split(":")[1]) != owner_pid
    else:
        assert final.state == RunState.FAILED
        assert final.failure_reason == FailureReason.WORKER_LOST
