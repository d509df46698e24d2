"""Tracks: created by an admin with a baseline revision and calibration runs; read by
everyone with their LORD++ error budget and research program."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import structlog

from service.domain import edits, idempotency, ids, lifecycle, limits
from service.domain.context import Context, best_run, finite
from service.domain.decisions import ast_hash, error_budget, sample_std
from service.domain.errors import AlreadyExists, InvalidArgument, PayloadTooLarge
from service.domain.limits import (
    DEVICE_CLASS_RE,
    MAX_NAME_CHARS,
    MAX_PROGRAM_CHARS,
    MODULE_RE,
    TRACK_ID_RE,
)
from service.domain.models import (
    TERMINAL_RUN_STATES,
    BudgetKind,
    DiffStats,
    ErrorBudget,
    EvaluationState,
    HeadChange,
    Page,
    Principal,
    Program,
    Revision,
    RunPurpose,
    RunState,
    Track,
    Verdict,
    utcnow,
)
from service.domain.program import decision_state_text, generate_program
from service.domain.requests import CreateTrackRequest

log = structlog.get_logger(__name__)


def create_track(ctx: Context, principal: Principal, req: CreateTrackRequest) -> Track:
    """Admin only. Stores the baseline revision and launches the calibration runs."""
    return with_budget(ctx, _create_track(ctx, principal, req))


def _create_track(ctx: Context, principal: Principal, req: CreateTrackRequest) -> Track:
    ctx.require_admin(principal, "create tracks")
    found, reserved = idempotency.replayed(
        ctx, principal, "track", req.request_id, ctx.meta.get_track
    )
    if found is not None:
        return found
    _validate_track_request(ctx, req)
    harness = ctx.harness(req.harness_id)
    if reserved is None and ctx.meta.get_track(req.track_id) is not None:
        raise AlreadyExists(
            f"track {req.track_id!r} already exists", details={"track_id": req.track_id}
        )
    budget = req.time_budget_s or harness.time_budget_s or ctx.settings.default_time_budget_s
    allowed = sorted(set(req.allowed_imports or ctx.settings.default_allowed_imports))

    if req.baseline_source is not None:
        source = req.baseline_source
    else:
        from trainer.baseline import baseline_source

        source = baseline_source(req.device_class)  # knobs sized for the track's device
    limits.check_source_size(ctx, source, "baseline_source")
    now = utcnow()
    display_name = req.display_name.strip() or req.track_id
    program = req.program or generate_program(
        track_id=req.track_id,
        display_name=display_name,
        description=req.description,
        harness=harness,
        time_budget_s=budget,
        device_class=req.device_class,
        policy=req.policy,
        allowed_imports=allowed,
        max_source_bytes=ctx.settings.max_source_bytes,
        budget_kind=req.budget_kind,
        token_budget=req.token_budget,
    )
    baseline_id = ids.revision_id(source)
    track = Track(
        id=req.track_id,
        display_name=display_name,
        description=req.description,
        program=program,
        harness_id=harness.id,
        baseline_revision=baseline_id,
        head_revision=baseline_id,
        head_run_id=None,
        device_class=req.device_class,
        time_budget_s=float(budget),
        policy=req.policy,
        allowed_imports=allowed,
        noise_std=None,
        noise_samples=0,
        creator_agent_id=principal.agent_id,
        create_time=now,
        update_time=now,
        budget_kind=req.budget_kind,
        token_budget=req.token_budget if req.budget_kind is BudgetKind.TOKENS else 0,
    )
    edits.validate_source(source, limits.edit_policy(ctx, track))

    found, reserved = idempotency.reserve(
        ctx, principal, "track", req.request_id, reserved, req.track_id, ctx.meta.get_track
    )
    if found is not None:
        return found
    ctx.meta.put_revision(
        Revision(
            id=baseline_id,
            track_id=track.id,
            parent_id=None,
            author_agent_id=principal.agent_id,
            description="baseline",
            source=source,
            diff_to_parent="",
            stats=DiffStats(lines_added=0, lines_removed=0),
            rebased=False,
            create_time=now,
            ast_hash=ast_hash(source),
        )
    )
    try:
        ctx.meta.create_track(track)
    except AlreadyExists:
        existing = ctx.meta.get_track(track.id)
        if existing is not None and req.request_id and reserved == track.id:
            return existing  # a concurrent retry of this very request created it
        raise
    ctx.meta.put_head_change(
        HeadChange(
            id=ids.new_id("head"),
            track_id=track.id,
            head_version=track.head_version,
            from_revision=None,
            to_revision=baseline_id,
            run_id=None,
            evaluation_id=None,
            agent_id=principal.agent_id,
            forced=False,
            reason="baseline: the track starts here",
            time=now,
        )
    )
    log.info("track.created", track_id=track.id, harness_id=harness.id)
    for seed in range(req.policy.calibration_runs):
        lifecycle.new_run(
            ctx,
            run_id=ids.new_id("run"),
            track=track,
            revision_id=baseline_id,
            agent_id=principal.agent_id,
            purpose=RunPurpose.CALIBRATION,
            seed=seed,
        )
    return track


def _validate_track_request(ctx: Context, req: CreateTrackRequest) -> None:
    def bad(field: str, message: str, value: Any) -> InvalidArgument:
        return InvalidArgument(message, details={"field": field, "value": value})

    if not TRACK_ID_RE.match(req.track_id):
        raise bad(
            "track_id",
            "track_id must be 3-63 characters of a-z, 0-9 and '-', starting with a letter or digit",
            req.track_id[:100],
        )
    if not DEVICE_CLASS_RE.match(req.device_class):
        raise bad("device_class", "device_class must look like 'cpu' or 'cuda'", req.device_class)
    if req.time_budget_s is not None and not (
        0 < req.time_budget_s <= ctx.settings.max_time_budget_s
    ):
        raise bad(
            "time_budget_s",
            f"time_budget_s must be in (0, {ctx.settings.max_time_budget_s:g}]",
            req.time_budget_s,
        )
    if len(req.display_name) > MAX_NAME_CHARS:
        raise bad("display_name", f"display_name is over {MAX_NAME_CHARS} characters", None)
    if len(req.description) > ctx.settings.max_description_chars:
        raise InvalidArgument(
            f"description is over {ctx.settings.max_description_chars} characters",
            details={
                "field": "description",
                "limit": ctx.settings.max_description_chars,
                "actual": len(req.description),
            },
        )
    if req.program is not None and len(req.program) > MAX_PROGRAM_CHARS:
        raise PayloadTooLarge(
            "program is too long",
            details={
                "field": "program",
                "limit": MAX_PROGRAM_CHARS,
                "actual": len(req.program),
            },
        )
    p = req.policy
    if not 0 <= p.calibration_runs <= ctx.settings.max_calibration_runs:
        raise bad(
            "policy.calibration_runs",
            f"calibration_runs must be 0 to {ctx.settings.max_calibration_runs}",
            p.calibration_runs,
        )
    if not 1 <= p.replicates <= ctx.settings.max_replicates:
        raise bad(
            "policy.replicates",
            f"replicates must be 1 to {ctx.settings.max_replicates}",
            p.replicates,
        )
    if not (math.isfinite(p.k_sigma) and p.k_sigma >= 0):
        raise bad("policy.k_sigma", "k_sigma must be a finite number >= 0", p.k_sigma)
    if not (math.isfinite(p.min_delta) and p.min_delta >= 0):
        raise bad("policy.min_delta", "min_delta must be a finite number >= 0", p.min_delta)
    if not p.replicates <= p.max_pairs <= ctx.settings.max_pairs:
        raise bad(
            "policy.max_pairs",
            f"max_pairs must be replicates ({p.replicates}) to {ctx.settings.max_pairs}",
            p.max_pairs,
        )
    if not (math.isfinite(p.fdr_alpha) and 0 < p.fdr_alpha < 1):
        raise bad("policy.fdr_alpha", "fdr_alpha must be in (0, 1)", p.fdr_alpha)
    if not (math.isfinite(p.speed_tolerance) and 0 < p.speed_tolerance <= 10):
        raise bad("policy.speed_tolerance", "speed_tolerance must be in (0, 10]", p.speed_tolerance)
    if req.budget_kind is BudgetKind.TOKENS and not 0 < req.token_budget <= 10**15:
        raise bad(
            "token_budget",
            "a TOKENS budget needs token_budget > 0 (training tokens per run)",
            req.token_budget,
        )
    for module in req.allowed_imports or ():
        if not MODULE_RE.match(module):
            raise bad("allowed_imports", "not a module name", module[:100])


def get_track(ctx: Context, principal: Principal, track_id: str) -> Track:
    return with_budget(ctx, ctx.track(track_id))


def list_tracks(
    ctx: Context, principal: Principal, page_size: int | None, page_token: str
) -> Page[Track]:
    items, token = ctx.meta.list_tracks(ctx.page_size(page_size), page_token)
    return Page(items=[with_budget(ctx, t) for t in items], next_page_token=token)


def error_budget_of(ctx: Context, track: Track) -> ErrorBudget:
    """The track's LORD++ ledger, recomputed from its evaluations (the record)."""
    levels: list[float] = []
    discoveries: list[int] = []
    for evaluation in ctx.meta.list_evaluations(track.id):
        if evaluation.fdr_test_index is None or evaluation.level is None:
            continue
        levels.append(evaluation.level)
        if evaluation.state is EvaluationState.DONE and evaluation.verdict is Verdict.KEEP:
            discoveries.append(evaluation.fdr_test_index)
    return error_budget(track.policy.fdr_alpha, levels, discoveries, track.fdr_tests)


def with_budget(ctx: Context, track: Track) -> Track:
    return msgspec.structs.replace(track, error_budget=error_budget_of(ctx, track))


def get_program(ctx: Context, principal: Principal, track_id: str) -> Program:
    track = with_budget(ctx, ctx.track(track_id))
    harness = ctx.meta.get_harness(track.harness_id)
    return Program(
        track_id=track.id,
        text=track.program + decision_state_text(track),
        head_revision=track.head_revision,
        baseline_revision=track.baseline_revision,
        metric=harness.metric if harness else "val_bpb",
        time_budget_s=track.time_budget_s,
    )


def update_calibration(ctx: Context, track_id: str) -> None:
    """Noise = sample std of the baseline's calibration results (n >= 2); once every
    calibration run has ended, the best one justifies the baseline head."""
    with ctx.finish_lock:
        track = ctx.meta.get_track(track_id)
        if track is None:
            return
        runs = [
            r
            for r in ctx.all_runs(track_id=track.id, revision_id=track.baseline_revision)
            if r.purpose is RunPurpose.CALIBRATION
        ]
        values = [
            r.summary.val_bpb
            for r in runs
            if r.state is RunState.SUCCEEDED and r.summary and finite(r.summary.val_bpb)
        ]
        std = sample_std([v for v in values if v is not None])
        if std is not None:
            ctx.meta.update_track_noise(track.id, std, len(values))
        all_done = all(r.state in TERMINAL_RUN_STATES for r in runs)
        best = best_run(runs)
        if (
            all_done
            and best is not None
            and track.head_run_id is None
            and track.head_revision == track.baseline_revision
        ):
            ctx.meta.compare_and_set_head(
                track.id, track.baseline_revision, track.baseline_revision, best.id
            )
        log.info("track.calibrated", track_id=track.id, noise_std=std, samples=len(values))
