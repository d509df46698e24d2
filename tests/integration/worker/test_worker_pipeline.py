"""The execution pipeline on the embedded stack: SQLite, local artifacts, the
filesystem broker and a real `loopy worker` process."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from service.domain.models import LaunchRunRequest, RunState

pytestmark = pytest.mark.slow


def test_runs_train_once_with_metrics_artifacts_and_overheads(
    make_stack, tiny_harness_dir, helpers
) -> None:
    stack = make_stack()
    track = stack.track(stack.register(tiny_harness_dir), budget_s=2.0, calibration_runs=1)
    stack.start_worker("a")
    calibration = stack.core.meta.list_runs(track_id=track.id)[0]
    launched = stack.core.launch_run(stack.admin, LaunchRunRequest(track_id=track.id, seed=7))

    runs = stack.wait([r.id for r in calibration] + [launched.id], timeout_s=120)

    for run in runs:
        assert run.state == RunState.SUCCEEDED, (run.failure_reason, run.failure_message)
        assert run.attempt == 1
    started = Counter(e["run_id"] for e in stack.worker_events("run.started"))
    assert started == Counter({run.id: 1 for run in runs})  # each trained exactly once

    run = stack.run(launched.id)
    summary = run.summary
    assert summary is not None and summary.val_bpb is not None and summary.val_bpb > 0
    assert summary.training_seconds >= 1.5
    assert summary.num_steps > 0 and summary.num_params > 0
    # The worker timed its machine-speed probe just before the child trained.
    assert all(r.summary and r.summary.speed_probe and r.summary.speed_probe > 0 for r in runs)
    overhead = summary.overhead
    assert overhead.training_seconds == summary.training_seconds
    assert overhead.startup_seconds > 0 and overhead.eval_seconds > 0
    assert overhead.upload_seconds >= 0 and overhead.queue_wait_seconds >= 0

    source = stack.core.meta.get_revision(run.revision_id).source
    assert set(summary.artifacts) == {"source", "log", "checkpoint"}
    for name, ref in summary.artifacts.items():
        assert ref.key.startswith(f"runs/{run.id}/")
        data = stack.core.artifacts.get_bytes(ref.key)
        assert hashlib.sha256(data).hexdigest() == ref.sha256 and len(data) == ref.size_bytes
        if name == "source":
            assert data.decode() == source

    series = stack.core.get_metrics(stack.admin, run.id, None, ["loss"])
    assert len(series.points) >= 2 and all(p.name == "loss" for p in series.points)


def test_cancel_queued_and_running_runs(make_stack, tiny_harness_dir, helpers) -> None:
    stack = make_stack()
    track = stack.track(stack.register(tiny_harness_dir), budget_s=60.0, calibration_runs=1)
    worker = stack.start_worker("a")
    [running] = stack.core.meta.list_runs(track_id=track.id)[0]
    queued = stack.core.launch_run(stack.admin, LaunchRunRequest(track_id=track.id, seed=3))

    # The queued run is cancelled before any worker could take it.
    assert stack.core.cancel_run(stack.admin, queued.id).state == RunState.CANCELLED

    # The running run is cancelled while its child trains (points are flowing).
    stack.wait([running.id], timeout_s=60, states={RunState.RUNNING})
    helpers.wait_until(
        lambda: stack.core.get_metrics(stack.admin, running.id, None, None).points,
        timeout_s=60,
        what="the first metric points",
    )
    children = helpers.descendants(worker.pid)
    assert children, "the worker should be supervising a training child"
    assert stack.core.cancel_run(stack.admin, running.id).state == RunState.CANCELLED
    helpers.wait_until(lambda: not helpers.live(children), timeout_s=8, what="the child to die")

    assert worker.poll() is None, "the worker survives a cancel"
    for run_id in (queued.id, running.id):
        assert stack.run(run_id).state == RunState.CANCELLED
    assert stack.run(queued.id).start_time is None  # never trained
    assert [e["run_id"] for e in stack.worker_events("run.started")] == [running.id]
