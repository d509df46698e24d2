"""What workers call (no principal: workers are trusted and hold their own store
credentials, SPEC §7): claim, heartbeat, metrics and logs, completion, release; and
the sweeps that re-publish lost messages and reap runs whose worker vanished."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

import structlog

from service.domain import (
    lifecycle,
    rounds,
)
from service.domain.context import Context, finite, to_builtins
from service.domain.errors import InvalidArgument
from service.domain.models import (
    FailureReason,
    MetricPoint,
    Run,
    RunAssignment,
    RunEventType,
    RunOutcome,
    RunState,
    utcnow,
)

log = structlog.get_logger(__name__)


def claim_run(ctx: Context, run_id: str, worker_id: str) -> RunAssignment | None:
    """QUEUED -> RUNNING for this worker. None when the run is not QUEUED any more
    (cancelled, or already claimed by another delivery): the worker then does nothing."""
    run = ctx.run(run_id)
    if run.state is not RunState.QUEUED:
        return None
    revision = ctx.meta.get_revision(run.revision_id)
    harness = ctx.meta.get_harness(run.harness_id)
    if revision is None or harness is None:
        missing = "revision" if revision is None else "harness"
        lifecycle.transition(
            ctx,
            run,
            RunState.FAILED,
            failure_reason=FailureReason.INFRASTRUCTURE,
            failure_message=f"the run's {missing} is missing from the metadata store",
            end_time=utcnow(),
        )
        return None
    now = utcnow()
    claimed = lifecycle.transition(
        ctx, run, RunState.RUNNING, worker_id=worker_id, start_time=now, heartbeat_time=now
    )
    if claimed is None:
        return None
    return RunAssignment(run=claimed, source=revision.source, harness=harness)


def heartbeat(ctx: Context, run_id: str, worker_id: str) -> bool:
    """False when the run is no longer RUNNING on this worker (e.g. cancelled): stop it."""
    return ctx.meta.touch_heartbeat(run_id, worker_id, utcnow())


def record_metrics(ctx: Context, run_id: str, points: list[MetricPoint]) -> None:
    if not points:
        return
    ctx.run(run_id)
    ctx.meta.append_metrics(run_id, points)
    ctx.meta.append_event(run_id, RunEventType.METRICS, {"points": to_builtins(points)}, utcnow())


def record_log(ctx: Context, run_id: str, text: str) -> None:
    """A chunk of the child's output, as a LOG event for watchers."""
    if text:
        ctx.meta.append_event(run_id, RunEventType.LOG, {"text": text}, utcnow())


def complete_run(ctx: Context, run_id: str, worker_id: str, outcome: RunOutcome) -> Run | None:
    """RUNNING -> SUCCEEDED/FAILED, charges compute seconds, advances pending
    evaluations and calibration. None when the run was already terminal."""
    if outcome.state not in (RunState.SUCCEEDED, RunState.FAILED):
        raise InvalidArgument(
            "a worker reports SUCCEEDED or FAILED",
            details={"field": "state", "value": str(outcome.state)},
        )
    run = ctx.run(run_id)
    if run.state is not RunState.RUNNING or run.worker_id != worker_id:
        # Cancelled, reaped and re-queued, or finished by another delivery.
        log.info("run.stale_completion", run_id=run_id, state=run.state.value)
        return None
    state, reason, message = outcome.state, outcome.failure_reason, outcome.failure_message
    summary = outcome.summary
    if state is RunState.SUCCEEDED and not (summary and finite(summary.val_bpb)):
        state, reason = RunState.FAILED, FailureReason.CONTRACT
        message = "the run finished without a finite val_bpb"
    if state is RunState.FAILED and reason is None:
        reason = FailureReason.CRASH
    updated = lifecycle.transition(
        ctx,
        run,
        state,
        failure_reason=reason if state is RunState.FAILED else None,
        failure_message=message if state is RunState.FAILED else None,
        summary=summary,
        end_time=utcnow(),
    )
    if updated is None:
        return None
    # Our own failures are not the agent's: no compute charged for them. Otherwise the
    # supervisor's figure: training time, or the wall time of a run it had to kill.
    charge = (summary.compute_seconds or summary.training_seconds) if summary else 0.0
    if charge > 0 and math.isfinite(charge) and reason is not FailureReason.INFRASTRUCTURE:
        ctx.meta.add_compute_seconds(run.agent_id, charge)
    rounds.after_run_finished(ctx, updated)
    return updated


def release_run(ctx: Context, run_id: str, worker_id: str, reason: str) -> Run | None:
    """RUNNING (on this worker) -> QUEUED with the same attempt, published again:
    the worker is stopping or could not reach a store, neither the run's fault."""
    run = ctx.run(run_id)
    if run.state is not RunState.RUNNING or run.worker_id != worker_id:
        return None
    released = lifecycle.transition(
        ctx, run, RunState.QUEUED, worker_id=None, start_time=None, heartbeat_time=None
    )
    if released is None:
        return None
    log.info("run.released", run_id=run.id, worker_id=worker_id, reason=reason)
    lifecycle.publish(ctx, released)
    return released


def requeue_unclaimed_runs(ctx: Context) -> list[Run]:
    """Publish again every QUEUED run whose last publish is older than
    `requeue_after_s` (or that was never published): its message was lost."""
    cutoff = utcnow() - timedelta(seconds=ctx.settings.requeue_after_s)
    published = []
    for run in ctx.meta.list_unclaimed_runs(cutoff):
        if lifecycle.publish(ctx, run):
            log.warning("run.republished", run_id=run.id, attempt=run.attempt)
            published.append(run)
    return published


def readiness(ctx: Context) -> dict[str, bool]:
    """Whether the metadata store, the broker and the artifact store answer,
    cached for `ready_cache_s` so probes never pile load on a struggling store."""
    now = time.monotonic()
    cached = ctx.ready_cache
    if cached is not None and now - cached[0] < ctx.settings.ready_cache_s:
        return dict(cached[1])
    checks: dict[str, bool] = {}
    for name, ping in (
        ("metadata_store", ctx.meta.ping),
        ("broker", ctx.dispatcher.ping),
        ("artifact_store", ctx.artifacts.ping),
    ):
        try:
            checks[name] = bool(ping())
        except Exception:  # a failing ping means "not ready"
            checks[name] = False
    ctx.ready_cache = (time.monotonic(), checks)
    return dict(checks)


def reap_lost_runs(ctx: Context) -> list[Run]:
    """RUNNING runs without a heartbeat for heartbeat_timeout_s: re-queued once
    (attempt 2), then FAILED / WORKER_LOST. Returns the runs changed."""
    now = utcnow()
    cutoff = now - timedelta(seconds=ctx.settings.heartbeat_timeout_s)
    changed: list[Run] = []
    for run in ctx.meta.list_stale_runs(cutoff):
        if run.attempt < 2:
            requeued = lifecycle.transition(
                ctx,
                run,
                RunState.QUEUED,
                attempt=run.attempt + 1,
                worker_id=None,
                start_time=None,
                heartbeat_time=None,
            )
            if requeued is None:
                continue
            changed.append(requeued)
            log.warning("run.requeued", run_id=run.id, lost_worker=run.worker_id)
            lifecycle.publish(ctx, requeued)  # a refused publish is retried by the sweeper
        else:
            lost = _lose(
                ctx,
                run,
                now,
                f"worker {run.worker_id} stopped sending heartbeats "
                f"(attempt {run.attempt}, timeout {ctx.settings.heartbeat_timeout_s:g} s)",
            )
            if lost is not None:
                changed.append(lost)
    return changed


def _lose(ctx: Context, run: Run, now: datetime, message: str) -> Run | None:
    lost = lifecycle.transition(
        ctx,
        run,
        RunState.FAILED,
        failure_reason=FailureReason.WORKER_LOST,
        failure_message=message,
        end_time=now,
    )
    if lost is not None:
        log.warning("run.worker_lost", run_id=run.id)
        rounds.after_run_finished(ctx, lost)
    return lost
