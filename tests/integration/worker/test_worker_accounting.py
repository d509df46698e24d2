"""A run's summary and the compute quota come from the trusted side, through a real worker:
a train file that forges its figures or its failure reason changes only `reported`."""

from __future__ import annotations

import time

import pytest

from service.domain.models import (
    FailureReason,
    LaunchRunRequest,
    ProposeEditRequest,
    RunState,
)

pytestmark = pytest.mark.slow

FORGE_FIGURES = """

_honest_train = train


def train(ctx):
    _honest_train(ctx)
    ctx._channel.send({"type": "hello", "device_name": "NVIDIA H100 80GB HBM3"})
    ctx._channel.send({"type": "saved", "num_params": 7_000_000_000})
    ctx.training_seconds = lambda: 1e-6
    ctx.tokens_served = 10**12
"""

FORGE_CANCELLED = """

def train(ctx):
    next(iter(ctx.train_batches(2, ctx.seq_len)))
    ctx.report(0, loss=5.0)
    ctx._channel.send({"type": "failed", "reason": "CANCELLED", "message": "not my fault"})
    raise SystemExit(1)
"""


def test_forged_figures_and_reasons_reach_only_reported(make_stack, tiny_harness_dir) -> None:
    stack = make_stack()
    track = stack.track(stack.register(tiny_harness_dir), budget_s=2.0, calibration_runs=1)
    baseline = stack.core.meta.get_revision(track.head_revision).source
    launched = []
    for forgery in (FORGE_FIGURES, FORGE_CANCELLED):
        edit = stack.core.propose_edit(
            stack.admin, track.id, ProposeEditRequest(full_source=baseline + forgery)
        )
        launched.append(
            stack.core.launch_run(
                stack.admin, LaunchRunRequest(track_id=track.id, revision_id=edit.revision.id)
            ).id
        )
    stack.start_worker("a")
    calibration = [r.id for r in stack.core.meta.list_runs(track_id=track.id)[0]]
    runs = stack.wait(sorted(set(calibration) | set(launched)), timeout_s=180)

    forged = stack.run(launched[0])
    assert forged.state == RunState.SUCCEEDED, (forged.failure_reason, forged.failure_message)
    s = forged.summary
    assert s is not None
    assert s.device_name == "cpu"
    assert 0 < s.num_params < 10_000_000
    assert 0 < s.total_tokens < 10**9 and s.num_steps > 0
    assert s.training_seconds > 1.0  # a 2 s budget on the supervisor's clock
    assert s.compute_seconds == s.training_seconds
    assert s.reported.device_name == "NVIDIA H100 80GB HBM3"
    assert s.reported.num_params == 7_000_000_000
    assert s.reported.training_seconds == 1e-6
    assert s.reported.total_tokens == 10**12

    claimed = stack.run(launched[1])
    assert claimed.state == RunState.FAILED
    assert claimed.failure_reason == FailureReason.CRASH, claimed.failure_message
    assert claimed.summary is not None and claimed.summary.reported.failure_reason == "CANCELLED"

    # the quota is charged what the supervisor measured, run by run
    charged = sum(r.summary.compute_seconds for r in runs if r.summary is not None)
    # the charge is written just after the run's final state: allow the worker that moment
    deadline = time.monotonic() + 10
    while True:
        used = stack.core.get_agent(stack.admin, stack.admin.agent_id).compute_seconds_used
        if used == pytest.approx(charged) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert used == pytest.approx(charged)
    assert used > 2 * 1.0
