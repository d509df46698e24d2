"""Evaluation rounds: once every run of the rounds so far has ended, decide or dispatch
the next round; and what follows whenever a run ends (calibration, evaluations)."""

from __future__ import annotations

import math
import statistics

import msgspec
import structlog

from service.domain import (
    ids,
    lifecycle,
    limits,
    promotion,
    tracks,
)
from service.domain.context import Context, finite
from service.domain.decisions import (
    sample_stats,
    sample_std,
    sequential_decision,
    speed_check,
    t_interval,
)
from service.domain.errors import Unavailable
from service.domain.models import (
    TERMINAL_RUN_STATES,
    EvalPair,
    Evaluation,
    EvaluationState,
    Run,
    RunPurpose,
    RunState,
    Track,
    Verdict,
    sandbox_of,
    utcnow,
)

log = structlog.get_logger(__name__)


def new_pairs(count: int, used_seeds: set[int]) -> list[EvalPair]:
    return [
        EvalPair(
            seed=limits.free_seed(used_seeds),
            candidate_run_id=ids.new_id("run"),
            reference_run_id=ids.new_id("run"),
        )
        for _ in range(max(0, count))
    ]


def launch_ids(pairs: list[EvalPair], evaluated_run_id: str) -> list[str]:
    """The runs this evaluation launches, in dispatch order (candidate, reference, ...)."""
    launched: list[str] = []
    for pair in pairs:
        if pair.candidate_run_id != evaluated_run_id:
            launched.append(pair.candidate_run_id)
        if not pair.reused_reference:
            launched.append(pair.reference_run_id)
    return launched


def launch_pairs(
    ctx: Context, track: Track, evaluation: Evaluation, pairs: list[EvalPair], evaluated_run_id: str
) -> None:
    """Dispatch each pair's two runs back to back, so they run close in time."""
    for pair in pairs:
        sides = (
            (pair.candidate_run_id, evaluation.candidate.revision_id, True),
            (pair.reference_run_id, evaluation.reference.revision_id, False),
        )
        for run_id, revision_id, is_candidate in sides:
            if (is_candidate and run_id == evaluated_run_id) or (
                not is_candidate and pair.reused_reference
            ):
                continue
            try:
                lifecycle.new_run(
                    ctx,
                    run_id=run_id,
                    track=track,
                    revision_id=revision_id,
                    agent_id=evaluation.agent_id,
                    purpose=RunPurpose.REPLICATE,
                    seed=pair.seed,
                    evaluation_id=evaluation.id,
                )
            except Unavailable:
                # The run is stored FAILED; the pair is incomplete, the evaluation goes on.
                log.warning("evaluation.replicate_not_queued", run_id=run_id)


def try_finish_evaluation(ctx: Context, evaluation: Evaluation) -> Evaluation:
    """Once every run of the rounds so far is terminal: decide, or dispatch the next
    round. Otherwise unchanged. Conditional on the stored version, so two processes
    looking at once never dispatch a round twice."""
    if evaluation.state is not EvaluationState.PENDING:
        return evaluation
    runs: dict[str, Run | None] = {}
    for pair in evaluation.pairs:
        for run_id in (pair.candidate_run_id, pair.reference_run_id):
            run = ctx.meta.get_run(run_id)
            if run is not None and run.state not in TERMINAL_RUN_STATES:
                return evaluation
            runs[run_id] = run
    with ctx.finish_lock:
        current = ctx.meta.get_evaluation(evaluation.id)
        if current is None or current.state is not EvaluationState.PENDING:
            return current or evaluation
        track = ctx.track(current.track_id)
        updated, next_pairs = _look(ctx, current, track, runs)
        if not ctx.meta.replace_evaluation(updated, current.version):
            return ctx.meta.get_evaluation(evaluation.id) or updated
        updated.version = current.version + 1
    if next_pairs:
        launch_pairs(ctx, track, updated, next_pairs, updated.run_id)
        log.info("evaluation.round", evaluation_id=updated.id, pairs=len(updated.pairs))
        return updated
    if updated.verdict is Verdict.KEEP and track.policy.auto_promote:
        updated = promotion.auto_promote(ctx, track, updated, runs)
    log.info(
        "evaluation.finished",
        evaluation_id=updated.id,
        state=updated.state.value,
        verdict=updated.verdict.value if updated.verdict else None,
        pairs=updated.pairs_used,
    )
    return updated


def _look(
    ctx: Context, current: Evaluation, track: Track, runs: dict[str, Run | None]
) -> tuple[Evaluation, list[EvalPair]]:
    """The evaluation after looking at its finished pairs, and the next round (if any)."""
    done = msgspec.structs.replace(
        current, pairs=[msgspec.structs.replace(p) for p in current.pairs]
    )

    def value(run: Run | None) -> float | None:
        if run is None or run.state is not RunState.SUCCEEDED or run.summary is None:
            return None
        return run.summary.val_bpb if finite(run.summary.val_bpb) else None

    def probe(run: Run | None) -> float | None:
        return run.summary.speed_probe if run is not None and run.summary else None

    diffs: list[float] = []
    complete: list[EvalPair] = []
    for pair in done.pairs:
        cand, ref = runs.get(pair.candidate_run_id), runs.get(pair.reference_run_id)
        pair.candidate_speed, pair.reference_speed = probe(cand), probe(ref)
        c, r = value(cand), value(ref)
        pair.difference = None if c is None or r is None else r - c
        if pair.difference is not None:
            diffs.append(pair.difference)
            complete.append(pair)
    cand_runs = [r for r in (runs.get(p.candidate_run_id) for p in done.pairs) if r]
    ref_runs = [r for r in (runs.get(p.reference_run_id) for p in done.pairs) if r]
    done.candidate = sample_stats(done.candidate.revision_id, cand_runs)
    done.candidate.run_ids = [p.candidate_run_id for p in done.pairs]
    done.reference = sample_stats(done.reference.revision_id, ref_runs)
    done.reference.run_ids = [p.reference_run_id for p in done.pairs]
    done.pairs_used = len(diffs)
    done.sandbox = sandbox_of(cand_runs + ref_runs)
    done.speed = speed_check(complete, cand_runs, ref_runs, track.policy.speed_tolerance)
    if diffs:
        done.delta = statistics.fmean(diffs)
        done.noise_std = sample_std(diffs)
        if done.noise_std:
            done.z_score = done.delta / (done.noise_std / math.sqrt(len(diffs)))
        interval = t_interval(diffs)
        done.interval_low, done.interval_high = interval if interval else (None, None)

    agent = ctx.meta.get_agent(done.agent_id)
    out_of_compute = (
        agent is not None and agent.compute_seconds_used >= agent.quota.max_compute_seconds
    )
    pairs_left = 0 if out_of_compute else done.max_pairs - len(done.pairs)
    level = done.level or track.policy.fdr_alpha
    decision = sequential_decision(diffs, level, track.policy, pairs_left=pairs_left)
    done.e_value = decision.e_value
    done.threshold = decision.threshold

    def finish(state: EvaluationState, verdict: Verdict | None, reason: str) -> None:
        done.state, done.verdict, done.reason = state, verdict, reason
        done.finish_time = utcnow()
        if state is EvaluationState.FAILED:
            done.failure_message = reason

    if done.speed.confounded:
        s = done.speed
        finish(
            EvaluationState.DONE,
            Verdict.CONFOUNDED,
            f"the candidate ran at {s.speed_ratio:.3f}x the reference's machine speed "
            f"(noise {s.ratio_noise:.3f} in log ratio, tolerance {s.tolerance:.0%}); "
            f"steps {s.candidate_steps} vs {s.reference_steps}: evaluate again later",
        )
        return done, []
    if decision.verdict is not None:
        finish(EvaluationState.DONE, decision.verdict, decision.reason)
        return done, []
    cand_failed = all(value(runs.get(p.candidate_run_id)) is None for p in done.pairs)
    ref_failed = all(value(runs.get(p.reference_run_id)) is None for p in done.pairs)
    if not diffs and (cand_failed or ref_failed):
        which, side = (
            ("candidate", done.candidate)
            if cand_failed
            else (
                "reference",
                done.reference,
            )
        )
        finish(
            EvaluationState.FAILED,
            None,
            f"no {which} run succeeded, so there is nothing to compare "
            f"(runs: {', '.join(side.run_ids)})",
        )
        return done, []
    next_pairs = new_pairs(
        min(done.pairs_per_round or 1, pairs_left),
        {p.seed for p in done.pairs},
    )
    done.pairs = done.pairs + next_pairs
    done.candidate.run_ids += [p.candidate_run_id for p in next_pairs]
    done.reference.run_ids += [p.reference_run_id for p in next_pairs]
    done.replicate_run_ids = done.replicate_run_ids + launch_ids(next_pairs, done.run_id)
    done.reason = f"{decision.reason}; {len(next_pairs)} more pair(s) dispatched"
    return done, next_pairs


def after_run_finished(ctx: Context, run: Run) -> None:
    if run.purpose is RunPurpose.CALIBRATION:
        tracks.update_calibration(ctx, run.track_id)
    for evaluation in ctx.meta.list_pending_evaluations(run.track_id):
        if run.id in evaluation.candidate.run_ids or run.id in evaluation.reference.run_ids:
            try_finish_evaluation(ctx, evaluation)
