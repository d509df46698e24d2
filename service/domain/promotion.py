"""Promotion moves the head on evidence only: a DONE evaluation with verdict KEEP whose
reference is the current head (the CAS expects that reference), or an admin's `force`
with a reason. Every head change is recorded (HeadChange) in the same write as the
CAS; promoting the revision that already is the head returns the track unchanged."""

from __future__ import annotations

import msgspec
import structlog

from service.domain import (
    ids,
    tracks,
)
from service.domain.context import Context, best_run
from service.domain.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from service.domain.models import (
    Evaluation,
    EvaluationState,
    HeadChange,
    Page,
    Principal,
    PromoteRequest,
    Run,
    RunState,
    Track,
    Verdict,
    utcnow,
)

log = structlog.get_logger(__name__)


def auto_promote(
    ctx: Context, track: Track, evaluation: Evaluation, runs: dict[str, Run | None]
) -> Evaluation:
    best = best_run([r for r in (runs.get(i) for i in evaluation.candidate.run_ids) if r])
    moved = move_head(
        ctx,
        track,
        expected=evaluation.reference.revision_id,
        new_head=evaluation.candidate.revision_id,
        run_id=best.id if best else evaluation.run_id,
        evaluation_id=evaluation.id,
        agent_id=evaluation.agent_id,
        forced=False,
        reason="auto_promote: KEEP",
    )
    if moved is None:
        return evaluation
    promoted = msgspec.structs.replace(evaluation, promoted=True)
    if ctx.meta.replace_evaluation(promoted, evaluation.version):
        promoted.version = evaluation.version + 1
        return promoted
    return evaluation


def move_head(
    ctx: Context,
    track: Track,
    *,
    expected: str,
    new_head: str,
    run_id: str | None,
    evaluation_id: str | None,
    agent_id: str,
    forced: bool,
    reason: str,
) -> Track | None:
    """Compare-and-swap the head and record the change in the same write."""
    change = HeadChange(
        id=ids.new_id("head"),
        track_id=track.id,
        head_version=0,  # the store sets the version the swap produced
        from_revision=expected,
        to_revision=new_head,
        run_id=run_id,
        evaluation_id=evaluation_id,
        agent_id=agent_id,
        forced=forced,
        reason=reason,
        time=utcnow(),
    )
    return ctx.meta.compare_and_set_head(track.id, expected, new_head, run_id, change=change)


def _keep_evaluation(ctx: Context, track: Track, run: Run, evaluation_id: str | None) -> Evaluation:
    """The KEEP evaluation of the run's revision against the current head, or the
    refusal that says what is missing."""
    if evaluation_id:
        evaluation = ctx.meta.get_evaluation(evaluation_id)
        if evaluation is None or evaluation.track_id != track.id:
            raise NotFound(
                f"evaluation {evaluation_id!r} not found on track {track.id}",
                details={"evaluation_id": evaluation_id, "track_id": track.id},
            )
        candidates = [evaluation]
    else:
        candidates = [
            e
            for e in reversed(ctx.meta.list_evaluations(track.id))
            if e.candidate.revision_id == run.revision_id
        ]
    keeps = [
        e
        for e in candidates
        if e.candidate.revision_id == run.revision_id
        and e.state is EvaluationState.DONE
        and e.verdict is Verdict.KEEP
    ]
    for evaluation in keeps:
        if evaluation.reference.revision_id == track.head_revision:
            return evaluation
    seen = [
        {
            "evaluation_id": e.id,
            "state": e.state.value,
            "verdict": e.verdict.value if e.verdict else None,
            "reference_revision": e.reference.revision_id,
        }
        for e in candidates[:20]
    ]
    if keeps:
        raise Conflict(
            "the KEEP was against an older head; the head has moved since: rebase the "
            "edit onto the current head and evaluate against it",
            details={
                "track_id": track.id,
                "current_head": track.head_revision,
                "expected_head": keeps[0].reference.revision_id,
                "head_version": track.head_version,
                "evaluations": seen,
            },
        )
    raise FailedPrecondition(
        f"revision {run.revision_id[:12]} has no finished KEEP evaluation against the "
        "current head; evaluate the run (Evaluate) and promote it once the verdict is KEEP",
        details={
            "run_id": run.id,
            "revision_id": run.revision_id,
            "current_head": track.head_revision,
            "evaluations": seen,
            "admin_override": "an admin may pass force=true with a reason",
        },
    )


def promote_run(ctx: Context, principal: Principal, track_id: str, req: PromoteRequest) -> Track:
    """Moves the head only on evidence: a DONE evaluation with verdict KEEP whose
    reference is the current head (FailedPrecondition otherwise). An admin may force it
    with a reason. A compare-and-swap (Conflict when the head moved); every change is
    recorded (list_head_changes)."""
    track = ctx.track(track_id)
    run = ctx.run(req.run_id)
    if run.track_id != track.id:
        raise InvalidArgument(
            "the run belongs to another track",
            details={"field": "run_id", "run_id": run.id, "run_track_id": run.track_id},
        )
    if run.state is not RunState.SUCCEEDED:
        raise FailedPrecondition(
            f"only a SUCCEEDED run can be promoted; run {run.id} is {run.state.value}",
            details={"run_id": run.id, "state": run.state.value},
        )
    reason = req.reason.strip()
    if len(reason) > ctx.settings.max_description_chars:
        raise InvalidArgument(
            f"reason is over {ctx.settings.max_description_chars} characters",
            details={"field": "reason", "length": len(reason)},
        )
    if req.force:
        ctx.require_admin(principal, "force a promotion")
        if not reason:
            raise InvalidArgument(
                "a forced promotion needs a reason (it is recorded in the head changes)",
                details={"field": "reason"},
            )
    if run.revision_id == track.head_revision:
        return tracks.with_budget(ctx, track)  # already the head: promotion is idempotent
    revision = ctx.revision(run.revision_id)
    evaluation_id: str | None
    if req.force:
        expected = req.expected_head_revision or track.head_revision
        evaluation_id = req.evaluation_id or None
    else:
        evaluation = _keep_evaluation(ctx, track, run, req.evaluation_id)
        expected = evaluation.reference.revision_id
        evaluation_id = evaluation.id
        if req.expected_head_revision and req.expected_head_revision != expected:
            raise Conflict(
                "expected_head_revision is not the head the KEEP was measured against",
                details={
                    "track_id": track.id,
                    "current_head": track.head_revision,
                    "expected_head": req.expected_head_revision,
                    "evaluated_against": expected,
                    "head_version": track.head_version,
                },
            )
        reason = reason or f"KEEP (evaluation {evaluation.id})"
    updated = move_head(
        ctx,
        track,
        expected=expected,
        new_head=revision.id,
        run_id=run.id,
        evaluation_id=evaluation_id,
        agent_id=principal.agent_id,
        forced=req.force,
        reason=reason,
    )
    if updated is None:
        current = ctx.track(track.id)
        raise Conflict(
            "the track head moved since this revision's base; rebase onto the current head "
            "(propose the edit again) and evaluate against it",
            details={
                "track_id": track.id,
                "current_head": current.head_revision,
                "expected_head": expected,
                "head_version": current.head_version,
            },
        )
    log.info(
        "track.promoted",
        track_id=track.id,
        revision_id=revision.id,
        run_id=run.id,
        forced=req.force,
        evaluation_id=evaluation_id,
    )
    return tracks.with_budget(ctx, updated)


def list_head_changes(
    ctx: Context, principal: Principal, track_id: str, page_size: int | None, page_token: str
) -> Page[HeadChange]:
    """Every move of the track's head, oldest first: who, when, on which evaluation,
    or forced and why."""
    ctx.track(track_id)
    items, token = ctx.meta.list_head_changes(track_id, ctx.page_size(page_size), page_token)
    return Page(items=items, next_page_token=token)
