"""The run state machine: legal transitions only, each recorded as a STATE event,
and new runs stored, announced and handed to the dispatcher."""

from __future__ import annotations

from typing import Any

import msgspec
import structlog

from service.domain.context import Context, to_builtins
from service.domain.errors import FailedPrecondition
from service.domain.models import (
    RUN_TRANSITIONS,
    BudgetKind,
    Run,
    RunEventType,
    RunPurpose,
    RunState,
    Track,
    utcnow,
)

log = structlog.get_logger(__name__)


def emit_state(ctx: Context, run: Run) -> None:
    ctx.meta.append_event(run.id, RunEventType.STATE, to_builtins(run), utcnow())


def transition(ctx: Context, run: Run, to: RunState, **changes: Any) -> Run | None:
    """Move `run` (as read) to `to`; None when illegal or when the stored run changed."""
    if to not in RUN_TRANSITIONS[run.state]:
        return None
    updated = msgspec.structs.replace(run, state=to, **changes)
    # Conditional on the state we read: a racing cancel/finish/reap makes this a no-op.
    if not ctx.meta.transition_run(run.id, [run.state], updated):
        return None
    emit_state(ctx, updated)
    log.info("run.state", run_id=run.id, track_id=run.track_id, state=to.value)
    return updated


def illegal_transition(run: Run, to: RunState) -> FailedPrecondition:
    allowed_from = sorted(s.value for s, targets in RUN_TRANSITIONS.items() if to in targets)
    return FailedPrecondition(
        f"run {run.id} is {run.state.value}; it cannot become {to.value}",
        details={
            "run_id": run.id,
            "state": run.state.value,
            "requested_state": to.value,
            "allowed_from": allowed_from,
        },
    )


def new_run(
    ctx: Context,
    *,
    run_id: str,
    track: Track,
    revision_id: str,
    agent_id: str,
    purpose: RunPurpose,
    seed: int,
    request_id: str | None = None,
    evaluation_id: str | None = None,
) -> Run:
    """Store a QUEUED run, announce it, and hand it to the dispatcher."""
    run = Run(
        id=run_id,
        track_id=track.id,
        revision_id=revision_id,
        harness_id=track.harness_id,
        agent_id=agent_id,
        purpose=purpose,
        seed=seed,
        device_class=track.device_class,
        time_budget_s=track.time_budget_s,
        state=RunState.QUEUED,
        failure_reason=None,
        failure_message=None,
        summary=None,
        worker_id=None,
        attempt=1,
        create_time=utcnow(),
        start_time=None,
        end_time=None,
        heartbeat_time=None,
        request_id=request_id,
        evaluation_id=evaluation_id,
        token_budget=track.token_budget if track.budget_kind is BudgetKind.TOKENS else 0,
    )
    ctx.meta.create_run(run)
    emit_state(ctx, run)
    # Accepted once stored: a publish that fails now (broker down) is retried by
    # the sweeper (requeue_unclaimed_runs), so the run is delayed, never lost.
    publish(ctx, run)
    log.info("run.queued", run_id=run.id, track_id=track.id, agent_id=agent_id)
    return run


def publish(ctx: Context, run: Run) -> bool:
    """Hand a QUEUED run to the dispatcher and note when; False when the broker
    refused (the sweeper publishes it again after `requeue_after_s`)."""
    try:
        ctx.dispatcher.submit(run)
    except Exception as exc:
        log.warning("run.publish_failed", run_id=run.id, error=str(exc))
        return False
    try:
        ctx.meta.touch_queued(run.id, utcnow())
    except Exception as exc:  # only makes the sweeper publish it once more
        log.warning("run.publish_unrecorded", run_id=run.id, error=str(exc))
    return True
