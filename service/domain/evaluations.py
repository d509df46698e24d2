"""Starting an evaluation: paired, sequential (service.domain.decisions). Code
equivalent to the reference (or to a revision already judged against it) is answered
at once, without a run; otherwise the first round of same-seed pairs is dispatched
(service.domain.rounds carries it on)."""

from __future__ import annotations

import structlog

from service.domain import (
    edits,
    idempotency,
    ids,
    limits,
    revisions,
    rounds,
)
from service.domain.context import Context, finite
from service.domain.decisions import lord_level, sample_stats, speeds_match
from service.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from service.domain.models import (
    EvalPair,
    EvaluateRequest,
    Evaluation,
    EvaluationState,
    Principal,
    Revision,
    Run,
    RunState,
    Track,
    Verdict,
    sandbox_of,
    utcnow,
)

log = structlog.get_logger(__name__)

PAIRED_METHOD = "paired seeds, scale-invariant mixture SPRT, LORD++ levels"


def evaluate(ctx: Context, principal: Principal, run_id: str, req: EvaluateRequest) -> Evaluation:
    """Paired, sequential evaluation (service.domain.decisions): candidate and reference
    replicate i share a seed and are dispatched together, a round of pairs at a time,
    until the e-value is decisive or max_pairs is reached. Equivalent code (same AST)
    answers EQUIVALENT at once, without a run."""
    found, reserved = idempotency.replayed(
        ctx, principal, "evaluation", req.request_id, ctx.meta.get_evaluation
    )
    if found is not None:
        return found
    run = ctx.run(run_id)
    if run.state in (RunState.FAILED, RunState.CANCELLED):
        raise FailedPrecondition(
            f"run {run.id} is {run.state.value}; only a queued, running or succeeded run "
            "can be evaluated",
            details={
                "run_id": run.id,
                "state": run.state.value,
                "failure_reason": run.failure_reason.value if run.failure_reason else None,
            },
        )
    track = ctx.track(run.track_id)
    per_round = req.replicates if req.replicates is not None else track.policy.replicates
    if not 1 <= per_round <= ctx.settings.max_replicates:
        raise InvalidArgument(
            f"replicates (pairs per round) must be 1 to {ctx.settings.max_replicates}",
            details={"field": "replicates", "value": per_round},
        )
    max_pairs = req.max_pairs if req.max_pairs is not None else track.policy.max_pairs
    max_pairs = max(max_pairs, per_round) if req.max_pairs is None else max_pairs
    if not per_round <= max_pairs <= ctx.settings.max_pairs:
        raise InvalidArgument(
            f"max_pairs must be replicates ({per_round}) to {ctx.settings.max_pairs}",
            details={"field": "max_pairs", "value": max_pairs},
        )
    reference_run: Run | None = None
    if req.reference_run_id:
        reference_run = ctx.run(req.reference_run_id)
        if reference_run.track_id != track.id:
            raise InvalidArgument(
                "the reference run is on another track",
                details={
                    "field": "reference_run_id",
                    "run_id": reference_run.id,
                    "track_id": reference_run.track_id,
                },
            )
        if reference_run.state in (RunState.FAILED, RunState.CANCELLED):
            raise FailedPrecondition(
                f"reference run {reference_run.id} is {reference_run.state.value}",
                details={
                    "reference_run_id": reference_run.id,
                    "state": reference_run.state.value,
                },
            )
        reference_revision = reference_run.revision_id
    else:
        reference_revision = track.head_revision
    if reference_revision == run.revision_id:
        raise FailedPrecondition(
            "the run's revision is the reference itself; there is nothing to compare",
            details={"run_id": run.id, "revision_id": run.revision_id},
        )
    candidate_rev = ctx.revision(run.revision_id)
    reference_rev = ctx.revision(reference_revision)
    candidate_hash = revisions.revision_ast_hash(candidate_rev)
    equivalent = bool(candidate_hash) and candidate_hash == revisions.revision_ast_hash(
        reference_rev
    )
    # Code equivalent to a revision already judged against this reference: its verdict.
    earlier = None if equivalent else _judged_twin(ctx, track, candidate_rev, reference_revision)
    agent = ctx.agent(principal.agent_id)
    twin: Run | None = None
    first_round_extra = 0
    if not equivalent and earlier is None:
        twin = (
            reference_run
            if reference_run is not None and reference_run.seed == run.seed
            else _reusable_reference(ctx, track, reference_revision, run)
        )
        # The first round fits the agent's free slots (at least pair 0's twin); later
        # rounds replace the finished runs of this evaluation.
        needed = 0 if twin is not None else 1
        slots = max(0, agent.quota.max_queued_runs - ctx.meta.count_active_runs(agent.id))
        limits.check_compute_quota(agent)
        if slots < needed:
            limits.check_run_quota(ctx, agent, track, needed=needed)
        first_round_extra = min(per_round - 1, (slots - needed) // 2)

    found, eval_id = idempotency.reserve(
        ctx,
        principal,
        "evaluation",
        req.request_id,
        reserved,
        ids.new_id("eval"),
        ctx.meta.get_evaluation,
    )
    if found is not None:
        return found
    now = utcnow()
    evaluation = Evaluation(
        id=eval_id,
        run_id=run.id,
        track_id=track.id,
        state=EvaluationState.PENDING,
        candidate=sample_stats(run.revision_id, []),
        reference=sample_stats(reference_revision, []),
        delta=None,
        noise_std=None,
        z_score=None,
        verdict=None,
        diff_stats=edits.diff_stats(reference_rev.source, candidate_rev.source),
        replicate_run_ids=[],
        promoted=False,
        failure_message=None,
        create_time=now,
        finish_time=None,
        request_id=req.request_id,
        agent_id=principal.agent_id,
        method=PAIRED_METHOD,
        max_pairs=max_pairs,
        pairs_per_round=per_round,
    )
    if equivalent or earlier is not None:
        return _answer_equivalent(ctx, evaluation, earlier)

    # Draw this test's level from the track's false-discovery budget (LORD++), using
    # the KEEPs known now (asynchronous LORD: pending tests count as non-discoveries).
    index = ctx.meta.allocate_fdr_test(track.id)
    discoveries = [
        e.fdr_test_index
        for e in ctx.meta.list_evaluations(track.id)
        if e.fdr_test_index is not None
        and e.state is EvaluationState.DONE
        and e.verdict is Verdict.KEEP
    ]
    evaluation.fdr_test_index = index
    evaluation.level = lord_level(index, discoveries, track.policy.fdr_alpha)
    evaluation.threshold = 1.0 / evaluation.level

    used_seeds = {
        r.seed
        for rev in (run.revision_id, reference_revision)
        for r in ctx.all_runs(track_id=track.id, revision_id=rev)
    }
    # Pair 0 is the evaluated run itself, with a reference of the same seed: an earlier
    # one when the probes say the machine ran at the same speed, else a fresh one now.
    pairs = [
        EvalPair(
            seed=run.seed,
            candidate_run_id=run.id,
            reference_run_id=twin.id if twin else ids.new_id("run"),
            reused_reference=twin is not None,
        )
    ]
    pairs += rounds.new_pairs(first_round_extra, used_seeds)
    evaluation.pairs = pairs
    evaluation.sandbox = sandbox_of([run, *([twin] if twin is not None else [])])
    evaluation.candidate.run_ids = [p.candidate_run_id for p in pairs]
    evaluation.reference.run_ids = [p.reference_run_id for p in pairs]
    evaluation.replicate_run_ids = rounds.launch_ids(pairs, run.id)
    evaluation.reason = f"round 1: {len(pairs)} pair(s) dispatched"
    # Stored before its replicates exist, so a replicate finishing at once finds it.
    ctx.meta.put_evaluation(evaluation)
    rounds.launch_pairs(ctx, track, evaluation, pairs, run.id)
    log.info(
        "evaluation.created",
        evaluation_id=eval_id,
        run_id=run.id,
        pairs=len(pairs),
        level=evaluation.level,
    )
    return rounds.try_finish_evaluation(ctx, evaluation)


def _answer_equivalent(
    ctx: Context, evaluation: Evaluation, earlier: Evaluation | None
) -> Evaluation:
    """Decided at once, without a run: the candidate's code is the reference's, or that
    of a revision `earlier` judged against the same reference, once comments,
    docstrings and formatting are dropped."""
    evaluation.state = EvaluationState.DONE
    evaluation.verdict = Verdict.EQUIVALENT
    evaluation.finish_time = evaluation.create_time
    evaluation.method = "AST equivalence"
    if earlier is None:
        evaluation.equivalent_to = evaluation.reference.revision_id
        evaluation.reason = (
            "the candidate's code is the reference's once comments, docstrings and "
            "formatting are dropped: no run can tell them apart"
        )
    else:
        assert earlier.verdict is not None
        evaluation.equivalent_to = earlier.candidate.revision_id
        evaluation.reason = (
            f"the candidate's code is revision {earlier.candidate.revision_id[:12]}'s once "
            f"comments, docstrings and formatting are dropped; evaluation {earlier.id} "
            f"of that revision against this reference said {earlier.verdict.value}"
        )
    ctx.meta.put_evaluation(evaluation)
    log.info(
        "evaluation.equivalent",
        evaluation_id=evaluation.id,
        run_id=evaluation.run_id,
        earlier=earlier.id if earlier else None,
    )
    return evaluation


def _judged_twin(
    ctx: Context, track: Track, candidate: Revision, reference_revision: str
) -> Evaluation | None:
    """The newest decided evaluation, against this reference, of a revision whose code
    is behaviourally identical to the candidate's."""
    twins = set(revisions.equivalents(ctx, track.id, candidate))
    if not twins:
        return None
    decided = (Verdict.KEEP, Verdict.DISCARD, Verdict.INCONCLUSIVE)
    for evaluation in reversed(ctx.meta.list_evaluations(track.id)):
        if (
            evaluation.candidate.revision_id in twins
            and evaluation.reference.revision_id == reference_revision
            and evaluation.state is EvaluationState.DONE
            and evaluation.verdict in decided
        ):
            return evaluation
    return None


def _reusable_reference(
    ctx: Context, track: Track, reference_revision: str, run: Run
) -> Run | None:
    """A finished reference run with the candidate's seed whose machine speed matches
    the candidate's (both probes known): reusing it costs no run and no confounding."""
    if run.state is not RunState.SUCCEEDED or run.summary is None:
        return None
    for ref in ctx.all_runs(
        track_id=track.id, revision_id=reference_revision, states=[RunState.SUCCEEDED]
    ):
        if (
            ref.seed == run.seed
            and ref.summary is not None
            and finite(ref.summary.val_bpb)
            and speeds_match(
                run.summary.speed_probe, ref.summary.speed_probe, track.policy.speed_tolerance
            )
        ):
            return ref
    return None


def get_evaluation(
    ctx: Context, principal: Principal, run_id: str, evaluation_id: str
) -> Evaluation:
    evaluation = ctx.meta.get_evaluation(evaluation_id)
    if evaluation is None or evaluation.run_id != run_id:
        raise NotFound(
            f"evaluation {evaluation_id!r} of run {run_id!r} not found",
            details={"run_id": run_id, "evaluation_id": evaluation_id},
        )
    if evaluation.state is EvaluationState.PENDING:
        # Cheap, and heals a completion that raced the evaluation's creation.
        evaluation = rounds.try_finish_evaluation(ctx, evaluation)
    return evaluation
