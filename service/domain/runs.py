"""Runs as agents see them: launch (quota-checked, idempotent), read, cancel, watch,
and their metrics, logs and artifacts."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import structlog

from service.domain import (
    idempotency,
    ids,
    lifecycle,
    limits,
    rounds,
)
from service.domain.context import Context, require_on_track
from service.domain.errors import (
    AlreadyExists,
    InvalidArgument,
    LoopyError,
    NotFound,
    PermissionDenied,
)
from service.domain.limits import MAX_SEED, MAX_STEP
from service.domain.models import (
    TERMINAL_RUN_STATES,
    LaunchRunRequest,
    MetricSeries,
    Page,
    Principal,
    Run,
    RunEvent,
    RunEventType,
    RunLogs,
    RunPurpose,
    RunState,
    utcnow,
)
from service.domain.ports import ArtifactIntegrityError

log = structlog.get_logger(__name__)


def launch_run(ctx: Context, principal: Principal, req: LaunchRunRequest) -> Run:
    """Quota-checked (RESOURCE_EXHAUSTED with retry_after_s); idempotent by request_id."""
    found, reserved = idempotency.replayed(ctx, principal, "run", req.request_id, ctx.meta.get_run)
    if found is not None:
        return found
    track = ctx.track(req.track_id)
    revision = ctx.revision(req.revision_id or track.head_revision)
    require_on_track(revision, track, "revision_id", "revision")
    if req.seed is not None and not 0 <= req.seed <= MAX_SEED:
        raise InvalidArgument(
            f"seed must be 0 to {MAX_SEED}", details={"field": "seed", "value": req.seed}
        )
    agent = ctx.agent(principal.agent_id)
    limits.check_run_quota(ctx, agent, track)
    found, run_id = idempotency.reserve(
        ctx, principal, "run", req.request_id, reserved, ids.new_id("run"), ctx.meta.get_run
    )
    if found is not None:
        return found
    seed = req.seed if req.seed is not None else secrets.randbelow(MAX_SEED)
    try:
        return lifecycle.new_run(
            ctx,
            run_id=run_id,
            track=track,
            revision_id=revision.id,
            agent_id=principal.agent_id,
            purpose=RunPurpose.EXPERIMENT,
            seed=seed,
            request_id=req.request_id,
        )
    except AlreadyExists:  # a concurrent retry of the same request stored it first
        return ctx.run(run_id)


def get_run(ctx: Context, principal: Principal, run_id: str) -> Run:
    return ctx.run(run_id)


def list_runs(
    ctx: Context,
    principal: Principal,
    track_id: str,
    state: RunState | None,
    page_size: int | None,
    page_token: str,
) -> Page[Run]:
    ctx.track(track_id)
    items, token = ctx.meta.list_runs(
        track_id=track_id,
        states=[state] if state is not None else None,
        page_size=ctx.page_size(page_size),
        page_token=page_token,
    )
    return Page(items=items, next_page_token=token)


def cancel_run(ctx: Context, principal: Principal, run_id: str) -> Run:
    """FAILED_PRECONDITION for a run already finished. Owner or admin only."""
    run = ctx.run(run_id)
    if run.agent_id != principal.agent_id and not principal.is_admin:
        raise PermissionDenied(
            "only the agent that launched a run (or an admin) may cancel it",
            details={"run_id": run.id, "owner_agent_id": run.agent_id},
        )
    while True:
        if run.state in TERMINAL_RUN_STATES:
            raise lifecycle.illegal_transition(run, RunState.CANCELLED)
        now = utcnow()
        updated = lifecycle.transition(
            ctx,
            run,
            RunState.CANCELLED,
            end_time=now,
            failure_message=f"cancelled by {principal.agent_id}",
        )
        if updated is not None:
            break
        run = ctx.run(run_id)  # it moved under us: decide on the fresh state
    try:
        ctx.dispatcher.cancel(updated)
    except Exception as exc:
        # The run is CANCELLED in the store; the worker's next heartbeat learns it.
        log.warning("run.cancel_signal_failed", run_id=run_id, error=str(exc))
    if run.state is RunState.RUNNING and run.start_time is not None:
        elapsed = (now - run.start_time).total_seconds()
        ctx.meta.add_compute_seconds(run.agent_id, max(0.0, min(elapsed, run.time_budget_s)))
    rounds.after_run_finished(ctx, updated)
    return updated


async def watch_run(
    ctx: Context, principal: Principal, run_id: str, after_seq: int = 0
) -> AsyncIterator[RunEvent]:
    """Events with seq > after_seq, then new ones as they happen; ends after the
    terminal STATE event."""
    if after_seq < 0:
        raise InvalidArgument(
            "after_seq must not be negative", details={"field": "after_seq", "value": after_seq}
        )
    await asyncio.to_thread(ctx.run, run_id)
    while True:
        events = await asyncio.to_thread(ctx.meta.list_events, run_id, after_seq, 500)
        for event in events:
            yield event
            after_seq = event.seq
            if event.type is RunEventType.STATE and event.data.get("state") in TERMINAL_RUN_STATES:
                return
        if events:
            continue
        run = await asyncio.to_thread(ctx.run, run_id)
        if run.state in TERMINAL_RUN_STATES:
            # The terminal event was before after_seq (a resumed watch): drain and end.
            for event in await asyncio.to_thread(ctx.meta.list_events, run_id, after_seq, 500):
                yield event
            return
        await asyncio.sleep(ctx.settings.watch_poll_s)


def get_metrics(
    ctx: Context,
    principal: Principal,
    run_id: str,
    since_step: int | None,
    names: list[str] | None,
    limit: int | None = None,
) -> MetricSeries:
    if since_step is not None and not 0 <= since_step <= MAX_STEP:
        raise InvalidArgument(
            f"since_step must be 0 to {MAX_STEP}",
            details={"field": "since_step", "value": str(since_step)},
        )
    if limit is not None and not 0 <= limit <= MAX_STEP:
        raise InvalidArgument(
            f"limit must be 0 to {MAX_STEP}",
            details={"field": "limit", "value": str(limit)},
        )
    ctx.run(run_id)
    cap = min(limit or ctx.settings.max_metric_points, ctx.settings.max_metric_points)
    wanted = [n for n in names or [] if n] or None
    points = ctx.meta.get_metrics(run_id, since_step, wanted, cap + 1)
    next_since: int | None = None
    if len(points) > cap:
        cut_step = points[cap].step
        kept = [p for p in points[:cap] if p.step < cut_step]
        if kept:
            # End on a whole step so continuing from `next_since_step` repeats nothing.
            points, next_since = kept, cut_step
        else:  # a single step has more names than the limit: move past it
            points, next_since = points[:cap], cut_step + 1
    return MetricSeries(run_id=run_id, points=points, next_since_step=next_since)


def get_run_logs(
    ctx: Context, principal: Principal, run_id: str, tail_bytes: int | None = None
) -> RunLogs:
    run = ctx.run(run_id)
    if tail_bytes is not None and tail_bytes < 0:
        raise InvalidArgument(
            "tail_bytes must not be negative",
            details={"field": "tail_bytes", "value": tail_bytes},
        )
    ref = run.summary.artifacts.get("log") if run.summary else None
    data: bytes | None = None
    if ref is not None:
        try:
            data = ctx.artifacts.get_bytes(ref.key)
        except NotFound:
            data = None  # fall back to what was streamed
        except ArtifactIntegrityError as exc:
            raise LoopyError(
                "the stored log does not match its sha256",
                details={"run_id": run.id, "key": ref.key, "error": str(exc)},
            ) from exc
    if data is None:
        data = "".join(
            str(e.data.get("text", ""))
            for e in _all_events(ctx, run.id)
            if e.type is RunEventType.LOG
        ).encode("utf-8")
    limit = min(tail_bytes or ctx.settings.max_log_bytes, ctx.settings.max_log_bytes)
    truncated = len(data) > limit
    if truncated:
        data = data[-limit:]
    return RunLogs(run_id=run.id, text=data.decode("utf-8", errors="replace"), truncated=truncated)


def _all_events(ctx: Context, run_id: str) -> Iterator[RunEvent]:
    after = 0
    while True:
        events = ctx.meta.list_events(run_id, after, 1000)
        if not events:
            return
        yield from events
        after = events[-1].seq


def _artifact_ref(ctx: Context, run_id: str, name: str) -> Any:
    run = ctx.run(run_id)
    artifacts = run.summary.artifacts if run.summary else {}
    ref = artifacts.get(name)
    if ref is None:
        raise NotFound(
            f"run {run_id} has no artifact {name!r}",
            details={"run_id": run_id, "artifact": name, "available": sorted(artifacts)},
        )
    return ref


def get_artifact_url(ctx: Context, principal: Principal, run_id: str, name: str) -> str | None:
    """Presigned URL of a run artifact ("source", "log", "checkpoint"), or None when
    the store serves bytes through the API instead (see open_artifact)."""
    ref = _artifact_ref(ctx, run_id, name)
    return ctx.artifacts.presigned_url(ref.key)


def open_artifact(
    ctx: Context, principal: Principal, run_id: str, name: str
) -> tuple[Any, int, str]:
    """(chunk iterator, size, sha256) of a run artifact, verified while streaming."""
    ref = _artifact_ref(ctx, run_id, name)
    return ctx.artifacts.open(ref.key), ref.size_bytes, ref.sha256
