"""Decisions v2 (SPEC §5, issue 10): the statistics, paired sequential evaluations,
the track's false-discovery budget, promotion on evidence only, honest history."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from service.domain import reports
from service.domain.decisions import (
    PRIOR_EFFECT_VARIANCE,
    ast_hash,
    decide,
    error_budget,
    lord_gamma,
    lord_level,
    mixture_e_value,
    pooled_std,
    sequential_decision,
    t_cdf,
    t_interval,
    t_quantile,
)
from service.domain.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)
from service.domain.models import (
    DecisionPolicy,
    EvaluateRequest,
    EvaluationState,
    LaunchRunRequest,
    PromoteRequest,
    ProposeEditRequest,
    RunPurpose,
    RunState,
    SearchReplaceBlock,
    Verdict,
)

POLICY = DecisionPolicy()


# --- the statistics -------------------------------------------------------------


def test_student_t_helpers_match_the_tables():
    # Two-sided 95 % critical values of Student's t (any textbook table).
    assert t_quantile(0.975, 1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile(0.975, 2) == pytest.approx(4.303, abs=1e-3)
    assert t_quantile(0.975, 10) == pytest.approx(2.228, abs=1e-3)
    assert t_quantile(0.025, 10) == pytest.approx(-2.228, abs=1e-3)
    assert t_cdf(0.0, 3) == pytest.approx(0.5)
    low, high = t_interval([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / math.sqrt(3)  # no z-score from three values: t with 2 dof
    assert (low, high) == pytest.approx((2 - half, 2 + half), abs=1e-3)
    assert t_interval([1.0]) is None


def test_mixture_e_value_is_exact_on_small_samples():
    assert mixture_e_value([]) == 1.0 and mixture_e_value([0.3]) == 1.0  # no evidence yet
    # Only t and n matter: the factor is scale-invariant and symmetric in the sign.
    a = mixture_e_value([0.1, 0.12, 0.09, 0.11])
    assert mixture_e_value([1.0, 1.2, 0.9, 1.1]) == pytest.approx(a)
    assert mixture_e_value([-0.1, -0.12, -0.09, -0.11]) == pytest.approx(a)
    # Closed form: ratio of Student-t densities of t under the mixture and the null.
    d = [0.1, 0.12, 0.09, 0.11]
    n, g = len(d), PRIOR_EFFECT_VARIANCE
    t = statistics.fmean(d) / (statistics.stdev(d) / math.sqrt(n))
    c, nu = 1 + n * g, n - 1
    expected = (
        c**-0.5 * (1 + t * t / (c * nu)) ** (-(nu + 1) / 2) / (1 + t * t / nu) ** (-(nu + 1) / 2)
    )
    assert a == pytest.approx(expected)
    # Identical gains reach the finite ceiling (1 + n g)^((n - 1) / 2), never infinity.
    assert mixture_e_value([0.2, 0.2, 0.2]) == pytest.approx((1 + 3 * g) ** 1.0)
    assert mixture_e_value([0.01, -0.01, 0.0]) < 1.0  # evidence for "no gain"


def simulate(effect: float, level: float, rng: random.Random, max_pairs=8, per_round=2):
    """One sequential evaluation on simulated paired gains ~ N(effect, 1)."""
    diffs: list[float] = []
    while True:
        diffs += [rng.gauss(effect, 1.0) for _ in range(per_round)]
        decision = sequential_decision(diffs, level, POLICY, pairs_left=max_pairs - len(diffs))
        if decision.verdict is not None:
            return decision.verdict, len(diffs)


def test_sequential_test_error_rate_on_simulated_null_edits():
    """Looking after every round does not inflate the error: Ville's inequality bounds
    P(false KEEP) by the level however the evaluation stops."""
    rng = random.Random(1234)
    level = 0.05
    verdicts = [simulate(0.0, level, rng)[0] for _ in range(4000)]
    false_keeps = verdicts.count(Verdict.KEEP) / len(verdicts)
    assert false_keeps <= level
    assert Verdict.DISCARD in verdicts and Verdict.INCONCLUSIVE in verdicts


def test_sequential_test_stops_early_on_a_clear_gain_or_loss():
    rng = random.Random(99)
    gains = [simulate(3.0, 0.05, rng) for _ in range(300)]
    assert sum(v is Verdict.KEEP for v, _ in gains) / 300 > 0.9
    assert statistics.fmean(n for _, n in gains) < 8  # it stopped before the maximum
    losses = [simulate(-3.0, 0.05, rng) for _ in range(300)]
    assert all(v is Verdict.DISCARD for v, _ in losses)
    assert statistics.fmean(n for _, n in losses) < 5


def test_sequential_decision_stops_early_when_the_threshold_is_out_of_reach():
    # After 4 pairs a small, noisy gain projected over every pair left stays far below the
    # threshold: stop now (never a KEEP, so the error guarantee is untouched).
    diffs = [0.01, -0.005, 0.012, -0.004]
    d = sequential_decision(diffs, 0.001, POLICY, pairs_left=8)
    assert d.verdict is Verdict.INCONCLUSIVE and "stopped early" in d.reason
    # A strong gain with pairs left goes on.
    assert sequential_decision([0.1, 0.12, 0.09, 0.11], 1e-4, POLICY, pairs_left=8).verdict is None


def test_sequential_decision_runs_out_of_pairs():
    d = sequential_decision([0.1, -0.05, 0.08, 0.02], 0.001, POLICY, pairs_left=0)
    assert d.verdict is Verdict.INCONCLUSIVE and d.e_value < d.threshold == 1000
    d = sequential_decision([0.1, -0.2], 0.001, POLICY, pairs_left=2)
    assert d.verdict is None  # two pairs, no decision yet: run more
    d = sequential_decision([0.1, 0.1, 0.1, 0.1], 0.05, DecisionPolicy(min_delta=0.5), pairs_left=0)
    assert d.verdict is Verdict.INCONCLUSIVE and "min_delta" in d.reason


def test_lord_plus_plus_spending():
    alpha = 0.05
    # The gamma sequence is a (slowly converging) sub-probability sequence.
    assert sum(lord_gamma(j) for j in range(1, 200_000)) < 1.0
    assert lord_gamma(1) > lord_gamma(10) > lord_gamma(100) > 0
    # Without discoveries test t gets gamma_t * W0, W0 = alpha / 2 ...
    assert lord_level(1, [], alpha) == pytest.approx(lord_gamma(1) * alpha / 2)
    assert lord_level(10, [], alpha) == pytest.approx(lord_gamma(10) * alpha / 2)
    # ... a discovery at test 3 pays (alpha - W0) gamma_{t-3} back, later ones alpha.
    assert lord_level(10, [3], alpha) == pytest.approx(
        lord_gamma(10) * alpha / 2 + (alpha / 2) * lord_gamma(7)
    )
    assert lord_level(10, [3, 5], alpha) == pytest.approx(
        lord_level(10, [3], alpha) + alpha * lord_gamma(5)
    )
    assert lord_level(4, [7], alpha) == lord_level(4, [], alpha)  # only earlier KEEPs count
    # What is spent never exceeds what was earned, discoveries or not.
    for discoveries in ([], [2], [2, 9, 30]):
        levels = [lord_level(t, discoveries, alpha) for t in range(1, 200)]
        budget = error_budget(alpha, levels, discoveries, tests=199)
        assert budget.spent <= budget.earned and budget.remaining >= 0
        assert budget.next_level == pytest.approx(lord_level(200, discoveries, alpha))


def test_lord_plus_plus_bounds_the_false_discovery_rate_on_simulated_tracks():
    """Many tracks of 100 tests, 90 % null edits, each tested at its LORD++ level with a
    test whose null p-value is uniform: the share of false KEEPs among KEEPs <= alpha."""
    rng = random.Random(7)
    alpha, fdp = 0.05, []
    for _ in range(300):
        discoveries: list[int] = []
        false = 0
        for t in range(1, 101):
            level = lord_level(t, discoveries, alpha)
            null = rng.random() < 0.9
            p = rng.random() if null else rng.random() * 1e-4
            if p <= level:
                discoveries.append(t)
                false += null
        fdp.append(false / max(1, len(discoveries)))
    assert statistics.fmean(fdp) <= alpha


def test_ast_hash_ignores_comments_docstrings_and_formatting():
    a = 'def f(x):\n    """Doc."""\n    return x + 1  # add one\n'
    b = "def f( x ):\n    return x+1\n"
    c = "def f(x):\n    return x + 2\n"
    assert ast_hash(a) == ast_hash(b) != ast_hash(c)
    assert ast_hash("def g():\n    'only a docstring'\n") == ast_hash("def g():\n    pass\n")
    assert ast_hash("def broken(:\n") == ""


def test_todays_rule_is_kept_for_the_benchmark():
    d = decide([1.40, 1.41, 1.39], [1.50, 1.51, 1.49], 0.01, DecisionPolicy(k_sigma=2.0))
    assert d.verdict is Verdict.KEEP and d.delta == pytest.approx(0.10)
    assert pooled_std([1.0, 3.0], [2.0, 2.0]) == pytest.approx(1.0)


# --- evaluate through the core ------------------------------------------------


def sr(search, replace, **kw):
    return ProposeEditRequest(
        search_replace=[SearchReplaceBlock(search=search, replace=replace)], **kw
    )


def calibrated_track(world, values=(1.50, 1.51, 1.49), **policy):
    track = world.track(calibration_runs=len(values), **policy)
    runs = sorted(
        world.core.list_runs(world.admin, track.id, None, None, "").items, key=lambda r: r.seed
    )
    for run, value in zip(runs, values, strict=True):
        world.finish(run.id, value, speed=100.0)
    return world.core.get_track(world.admin, track.id)


def candidate(world, agent, track, lr="0.02", search="LR = 0.01", replace=None):
    edit = sr(search, replace or f"LR = {lr}")
    revision = world.core.propose_edit(agent, track.id, edit).revision
    run = world.core.launch_run(agent, LaunchRunRequest(track_id=track.id, revision_id=revision.id))
    return revision, run


def settle(world, evaluation, cand, ref, cand_speed=100.0, ref_speed=100.0):
    """Play the workers until the evaluation is decided: every queued run of it finishes
    with cand(i) / ref(i) for pair i (None = the run fails)."""
    for _ in range(100):
        evaluation = world.core.get_evaluation(world.admin, evaluation.run_id, evaluation.id)
        if evaluation.state is not EvaluationState.PENDING:
            return evaluation
        for i, pair in enumerate(evaluation.pairs):
            for run_id, value, speed in (
                (pair.candidate_run_id, cand(i), cand_speed),
                (pair.reference_run_id, ref(i), ref_speed),
            ):
                if world.core.get_run(world.admin, run_id).state is RunState.QUEUED:
                    world.finish(run_id, value, speed=speed, steps=int(speed))
    raise AssertionError("the evaluation never finished")


def noisy(rng, mean, sd=0.01):
    return lambda i: mean + rng.gauss(0.0, sd)


def keep(world, agent, track, lr="0.02", gain=0.2):
    """A revision with a real gain, evaluated to KEEP against the current head."""
    rng = random.Random(hash(lr) & 0xFFFF)
    revision, run = candidate(world, agent, track, lr=lr)
    evaluation = world.core.evaluate(agent, run.id, EvaluateRequest())
    done = settle(world, evaluation, noisy(rng, 1.5 - gain), noisy(rng, 1.5))
    assert done.verdict is Verdict.KEEP, done.reason
    return revision, run, done


def test_pairs_share_seeds_and_are_dispatched_together(world):
    track = calibrated_track(world, replicates=3)
    alice = world.agent("alice")
    revision, run = candidate(world, alice, track)
    before = len(world.dispatcher.submitted)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    assert evaluation.state is EvaluationState.PENDING and len(evaluation.pairs) == 3
    # Pair 0 is the evaluated run and a fresh reference twin with its seed.
    assert evaluation.pairs[0].candidate_run_id == run.id
    assert evaluation.pairs[0].seed == run.seed and not evaluation.pairs[0].reused_reference
    # Dispatch order: the twin, then candidate/reference of each new pair back to back,
    # each pair with one seed.
    launched = world.dispatcher.submitted[before:]
    assert [r.id for r in launched] == evaluation.replicate_run_ids
    assert [(r.revision_id == revision.id) for r in launched] == [False, True, False, True, False]
    assert [r.seed for r in launched] == [p.seed for p in evaluation.pairs for _ in (0, 1)][1:]
    assert len({p.seed for p in evaluation.pairs}) == 3
    assert {r.purpose for r in launched} == {RunPurpose.REPLICATE}
    assert {r.evaluation_id for r in launched} == {evaluation.id}
    assert evaluation.level == pytest.approx(lord_level(1, [], 0.05))
    assert evaluation.threshold == pytest.approx(1 / evaluation.level)


def test_evaluation_goes_round_by_round_and_reports_pairs_used(world):
    track = calibrated_track(world, replicates=2, max_pairs=6)
    alice = world.agent("alice")
    _, run = candidate(world, alice, track)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    # A small gain within the noise: round after round until, at 4 pairs, even 6 pairs
    # at that gain could not reach the threshold: it stops early, INCONCLUSIVE.
    gains = [0.01, -0.005, 0.012, -0.004, 0.008, 0.0]
    done = settle(world, evaluation, lambda i: 1.50 - gains[i], lambda i: 1.50)
    assert done.state is EvaluationState.DONE and done.verdict is Verdict.INCONCLUSIVE
    assert len(done.pairs) == 4 and done.pairs_used == 4 and "stopped early" in done.reason
    assert len(done.replicate_run_ids) == 7  # every run but the evaluated one
    assert done.candidate.n == done.reference.n == 4
    diffs = [p.difference for p in done.pairs]
    assert done.delta == pytest.approx(statistics.fmean(diffs))
    assert done.interval_low < done.delta < done.interval_high
    assert done.e_value == pytest.approx(mixture_e_value(diffs))


def test_a_clear_gain_keeps_early_and_a_clear_loss_discards_early(world):
    track = calibrated_track(world, replicates=2, max_pairs=12)
    alice = world.agent("alice")
    _, run_good, done = keep(world, alice, track, lr="0.02", gain=0.2)
    assert done.pairs_used < 12 and done.e_value >= done.threshold
    _, run_bad = candidate(world, alice, track, lr="0.2")
    bad = world.core.evaluate(alice, run_bad.id, EvaluateRequest())
    rng = random.Random(3)
    bad = settle(world, bad, noisy(rng, 2.4), noisy(rng, 1.5))
    assert bad.verdict is Verdict.DISCARD and bad.pairs_used <= 4


def test_old_reference_runs_are_reused_only_at_the_same_machine_speed(world):
    track = calibrated_track(world, replicates=1)
    alice = world.agent("alice")
    head = world.core.launch_run(alice, LaunchRunRequest(track_id=track.id, seed=77))
    world.finish(head.id, 1.5, speed=100.0)
    # Same seed, the machine ran 5 % faster: within tolerance, reused.
    rev, run = candidate(world, alice, track, lr="0.02")
    run = world.core.launch_run(
        alice, LaunchRunRequest(track_id=track.id, revision_id=rev.id, seed=77)
    )
    world.finish(run.id, 1.45, speed=105.0)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    assert evaluation.pairs[0].reference_run_id == head.id and evaluation.pairs[0].reused_reference
    assert (
        head.id not in evaluation.replicate_run_ids and run.id not in evaluation.replicate_run_ids
    )
    # Same seed, the machine ran at half speed: no evidence of the same speed, a fresh twin.
    rev2 = world.core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = 0.03")).revision
    run2 = world.core.launch_run(
        alice, LaunchRunRequest(track_id=track.id, revision_id=rev2.id, seed=77)
    )
    world.finish(run2.id, 1.45, speed=50.0)
    evaluation2 = world.core.evaluate(alice, run2.id, EvaluateRequest())
    assert evaluation2.pairs[0].reference_run_id != head.id
    assert evaluation2.replicate_run_ids == [evaluation2.pairs[0].reference_run_id]
    assert evaluation2.state is EvaluationState.PENDING
    twin = world.core.get_run(alice, evaluation2.pairs[0].reference_run_id)
    assert twin.seed == 77 and twin.revision_id == track.head_revision


def test_sides_at_different_machine_speeds_are_confounded(world):
    track = calibrated_track(world, replicates=2, max_pairs=4)
    alice = world.agent("alice")
    _, run = candidate(world, alice, track)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    rng = random.Random(11)
    # The candidate "wins" only because its runs had a machine twice as fast.
    done = settle(
        world, evaluation, noisy(rng, 1.3), noisy(rng, 1.5), cand_speed=200.0, ref_speed=100.0
    )
    assert done.verdict is Verdict.CONFOUNDED and done.state is EvaluationState.DONE
    assert done.speed.confounded and done.speed.speed_ratio == pytest.approx(2.0)
    assert done.speed.candidate_steps == 200 and done.speed.reference_steps == 100
    assert "2.000x" in done.reason
    # Within the tolerance the same gain is judged on its merits.
    _, run2 = candidate(world, alice, track, lr="0.03")
    evaluation2 = world.core.evaluate(alice, run2.id, EvaluateRequest())
    done2 = settle(
        world, evaluation2, noisy(rng, 1.3), noisy(rng, 1.5), cand_speed=104.0, ref_speed=100.0
    )
    assert done2.verdict is not Verdict.CONFOUNDED and not done2.speed.confounded


def test_equivalent_code_is_reported_and_answered_without_a_run(world):
    track = calibrated_track(world)
    alice = world.agent("alice")
    result = world.core.propose_edit(
        alice, track.id, sr("LR = 0.01  # learning rate", "LR = 0.01  # the step size")
    )
    assert result.equivalent_to == [track.baseline_revision]
    assert world.core.get_revision(alice, result.revision.id).equivalent_to == [
        track.baseline_revision
    ]
    run = world.core.launch_run(
        alice, LaunchRunRequest(track_id=track.id, revision_id=result.revision.id)
    )
    submitted = len(world.dispatcher.submitted)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    assert evaluation.state is EvaluationState.DONE and evaluation.verdict is Verdict.EQUIVALENT
    assert evaluation.equivalent_to == track.baseline_revision and evaluation.pairs == []
    assert len(world.dispatcher.submitted) == submitted  # nothing was trained
    assert world.core.get_track(alice, track.id).error_budget.tests == 0  # nothing spent
    different = world.core.propose_edit(alice, track.id, sr("LR = 0.01", "LR = 0.02"))
    assert different.equivalent_to == []


def test_code_equivalent_to_a_judged_revision_gets_its_answer_at_once(world):
    track = calibrated_track(world)
    alice = world.agent("alice")
    _, run = candidate(world, alice, track, lr="0.2")
    judged = world.core.evaluate(alice, run.id, EvaluateRequest())
    rng = random.Random(4)
    judged = settle(world, judged, noisy(rng, 2.4), noisy(rng, 1.5))
    assert judged.verdict is Verdict.DISCARD
    # The same idea again, reformatted and commented: no run, no level drawn.
    again = world.core.propose_edit(
        alice, track.id, sr("LR = 0.01  # learning rate", "LR = 0.2  # try a big step")
    )
    assert again.equivalent_to == [judged.candidate.revision_id]
    rerun = world.core.launch_run(
        alice, LaunchRunRequest(track_id=track.id, revision_id=again.revision.id)
    )
    tests_before = world.core.get_track(alice, track.id).error_budget.tests
    submitted = len(world.dispatcher.submitted)
    answer = world.core.evaluate(alice, rerun.id, EvaluateRequest())
    assert answer.verdict is Verdict.EQUIVALENT and answer.state is EvaluationState.DONE
    assert answer.equivalent_to == judged.candidate.revision_id
    assert judged.id in answer.reason and "DISCARD" in answer.reason
    assert len(world.dispatcher.submitted) == submitted
    assert world.core.get_track(alice, track.id).error_budget.tests == tests_before


def test_error_budget_is_spent_per_evaluation_and_paid_back_by_a_keep(world):
    track = calibrated_track(world)
    alice = world.agent("alice")
    assert track.error_budget.tests == 0
    assert track.error_budget.next_level == pytest.approx(lord_level(1, [], 0.05))
    _, _, first = keep(world, alice, track, lr="0.02")
    assert first.fdr_test_index == 1
    after = world.core.get_track(alice, track.id)
    budget = after.error_budget
    assert (budget.tests, budget.discoveries, budget.rule) == (1, 1, "LORD++")
    assert budget.spent == pytest.approx(first.level)
    assert budget.next_level == pytest.approx(lord_level(2, [1], 0.05))
    assert budget.next_level > lord_level(2, [], 0.05)  # the KEEP paid wealth back
    program = world.core.get_program(alice, track.id).text
    assert "Decision state (live)" in program and f"{budget.remaining:.3g}" in program
    assert "WALL_SECONDS" in program


def test_evaluate_fails_when_no_candidate_succeeds(world):
    track = calibrated_track(world, replicates=2)
    alice = world.agent("alice")
    _, run = candidate(world, alice, track)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    done = settle(world, evaluation, lambda i: None, lambda i: 1.5)
    assert done.state is EvaluationState.FAILED
    assert "no candidate run succeeded" in done.failure_message


def test_cancelled_replicate_leaves_its_pair_incomplete(world):
    track = calibrated_track(world, replicates=2, max_pairs=2)
    alice = world.agent("alice")
    _, run = candidate(world, alice, track)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    world.core.cancel_run(alice, evaluation.pairs[1].candidate_run_id)
    done = settle(world, evaluation, lambda i: 1.4, lambda i: 1.5)
    assert done.state is EvaluationState.DONE and done.pairs_used == 1
    assert done.pairs[1].difference is None


def test_evaluate_refusals_quota_and_idempotency(world):
    track = calibrated_track(world)
    alice = world.agent("alice", max_queued_runs=2)
    _, run = candidate(world, alice, track)
    world.finish(run.id, None)
    with pytest.raises(FailedPrecondition) as err:
        world.core.evaluate(alice, run.id, EvaluateRequest())
    assert err.value.details["state"] == "FAILED"
    head_run = world.core.launch_run(alice, LaunchRunRequest(track_id=track.id))
    with pytest.raises(FailedPrecondition) as err:
        world.core.evaluate(alice, head_run.id, EvaluateRequest())
    assert err.value.details["revision_id"] == track.head_revision
    _, other = candidate(world, alice, track, lr="0.04")
    with pytest.raises(InvalidArgument) as err:
        world.core.evaluate(alice, other.id, EvaluateRequest(replicates=0))
    assert err.value.details["field"] == "replicates"
    with pytest.raises(InvalidArgument) as err:
        world.core.evaluate(alice, other.id, EvaluateRequest(replicates=3, max_pairs=2))
    assert err.value.details["field"] == "max_pairs"
    with pytest.raises(QuotaExceeded):  # 2 active: no slot even for pair 0's reference twin
        world.core.evaluate(alice, other.id, EvaluateRequest())
    world.core.cancel_run(alice, head_run.id)
    # One slot: the first round shrinks to pair 0; later rounds follow as runs finish.
    small = world.core.evaluate(alice, other.id, EvaluateRequest())
    assert len(small.pairs) == 1 and len(small.replicate_run_ids) == 1
    with pytest.raises(NotFound):
        world.core.evaluate(alice, "run_nope", EvaluateRequest())
    with pytest.raises(NotFound):
        world.core.get_evaluation(alice, other.id, "eval_nope")
    bob = world.agent("bob")
    first = world.core.evaluate(bob, other.id, EvaluateRequest(request_id="e-1"))
    assert len(first.pairs) == 2
    again = world.core.evaluate(bob, other.id, EvaluateRequest(request_id="e-1"))
    assert again.id == first.id and again.replicate_run_ids == first.replicate_run_ids


# --- promotion ------------------------------------------------------------------


def test_promotion_is_refused_without_a_keep(world):
    track = calibrated_track(world)
    alice, bob = world.agent("alice"), world.agent("bob")
    _, run = candidate(world, alice, track)
    world.finish(run.id, 1.60, speed=100.0)
    # Bob (not the author) passes the current head as the expected head: still no.
    with pytest.raises(FailedPrecondition) as err:
        world.core.promote_run(
            bob,
            track.id,
            PromoteRequest(run_id=run.id, expected_head_revision=track.head_revision),
        )
    assert err.value.details["current_head"] == track.head_revision
    # A DISCARD does not count either, for an admin without force neither.
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    rng = random.Random(2)
    done = settle(world, evaluation, noisy(rng, 1.9), noisy(rng, 1.5))
    assert done.verdict is Verdict.DISCARD
    with pytest.raises(FailedPrecondition) as err:
        world.core.promote_run(world.admin, track.id, PromoteRequest(run_id=run.id))
    assert err.value.details["evaluations"][0]["verdict"] == "DISCARD"
    with pytest.raises(FailedPrecondition):
        world.core.promote_run(bob, track.id, PromoteRequest(run_id=run.id, evaluation_id=done.id))
    # Force is for admins, and only with a reason.
    with pytest.raises(PermissionDenied):
        world.core.promote_run(
            bob, track.id, PromoteRequest(run_id=run.id, force=True, reason="trust me")
        )
    with pytest.raises(InvalidArgument) as err:
        world.core.promote_run(world.admin, track.id, PromoteRequest(run_id=run.id, force=True))
    assert err.value.details["field"] == "reason"
    assert world.core.get_track(bob, track.id).head_revision == track.head_revision
    assert [c.to_revision for c in world.core.list_head_changes(bob, track.id, None, "").items] == [
        track.baseline_revision
    ]


def test_forced_and_evidence_promotions_are_recorded_and_listed(world):
    track = calibrated_track(world)
    alice = world.agent("alice")
    rev_a, run_a, keep_a = keep(world, alice, track, lr="0.02")
    moved = world.core.promote_run(alice, track.id, PromoteRequest(run_id=run_a.id))
    assert moved.head_revision == rev_a.id and moved.head_run_id == run_a.id
    # Promoting the head again changes nothing.
    same = world.core.promote_run(alice, track.id, PromoteRequest(run_id=run_a.id))
    assert same.head_version == moved.head_version
    rev_b, run_b = candidate(world, alice, track, search="BATCH = 8", replace="BATCH = 16")
    world.finish(run_b.id, 1.7)
    forced = world.core.promote_run(
        world.admin,
        track.id,
        PromoteRequest(run_id=run_b.id, force=True, reason="roll forward to test the harness"),
    )
    assert forced.head_revision == rev_b.id
    changes = world.core.list_head_changes(alice, track.id, None, "").items
    assert [(c.from_revision, c.to_revision) for c in changes] == [
        (None, track.baseline_revision),
        (track.baseline_revision, rev_a.id),
        (rev_a.id, rev_b.id),
    ]
    initial, by_evidence, by_force = changes
    assert (by_evidence.evaluation_id, by_evidence.forced, by_evidence.agent_id) == (
        keep_a.id,
        False,
        alice.agent_id,
    )
    assert by_evidence.head_version == moved.head_version
    assert (by_force.forced, by_force.reason, by_force.agent_id) == (
        True,
        "roll forward to test the harness",
        world.admin.agent_id,
    )
    page = world.core.list_head_changes(alice, track.id, 2, "")
    assert len(page.items) == 2 and page.next_page_token
    with pytest.raises(NotFound):
        world.core.list_head_changes(alice, "nope-track", None, "")


def test_two_keeps_from_one_base_only_one_promotes(world):
    track = calibrated_track(world)
    alice, bob = world.agent("alice"), world.agent("bob")
    rev_a, run_a, _ = keep(world, alice, track, lr="0.02")
    rev_b, run_b, _ = keep(world, bob, track, lr="0.03")
    won = world.core.promote_run(alice, track.id, PromoteRequest(run_id=run_a.id))
    assert won.head_revision == rev_a.id
    with pytest.raises(Conflict) as err:
        world.core.promote_run(bob, track.id, PromoteRequest(run_id=run_b.id))
    assert err.value.details["current_head"] == rev_a.id
    assert err.value.details["expected_head"] == track.baseline_revision
    assert err.value.http_status == 409 and err.value.grpc_status_name == "ABORTED"


def test_auto_promote_records_the_head_change(world):
    track = calibrated_track(world, auto_promote=True)
    alice = world.agent("alice")
    revision, _, done = keep(world, alice, track, lr="0.02")
    assert done.promoted
    after = world.core.get_track(alice, track.id)
    assert after.head_revision == revision.id and after.head_version == track.head_version + 1
    last = world.core.list_head_changes(alice, track.id, None, "").items[-1]
    assert (last.to_revision, last.evaluation_id, last.forced) == (revision.id, done.id, False)


def test_promotion_needs_a_succeeded_run_of_the_track(world):
    track = calibrated_track(world)
    other = world.track("other-track")
    alice = world.agent("alice")
    _, run = candidate(world, alice, track)
    with pytest.raises(FailedPrecondition) as err:
        world.core.promote_run(alice, track.id, PromoteRequest(run_id=run.id))
    assert err.value.details["state"] == "QUEUED"
    with pytest.raises(InvalidArgument) as err:
        world.core.promote_run(alice, other.id, PromoteRequest(run_id=run.id))
    assert err.value.details["run_track_id"] == track.id
    with pytest.raises(NotFound):
        world.core.promote_run(alice, track.id, PromoteRequest(run_id="run_nope"))


# --- leaderboard, results.tsv, progress.png ---------------------------------------


def test_history_is_honest(world):
    track = calibrated_track(world)  # baseline: 1.50, 1.51, 1.49
    alice = world.agent("alice")
    rev_a, run_a, _ = keep(world, alice, track, lr="0.02")
    world.core.promote_run(alice, track.id, PromoteRequest(run_id=run_a.id))
    rev_b, run_b = candidate(world, alice, track, search="BATCH = 8", replace="BATCH = 16")
    world.finish(run_b.id, 1.45)
    rev_c, run_c = candidate(world, alice, track, search="BATCH = 8", replace="BATCH = 32")
    world.finish(run_c.id, None)
    rev_d, run_d = candidate(world, alice, track, search="BATCH = 8", replace="BATCH = 64")
    world.core.cancel_run(alice, run_d.id)
    # An admin later forces the head back to the baseline: A was still kept at the time.
    base_run = world.core.list_runs(alice, track.id, None, None, "").items[-1]
    world.core.promote_run(
        world.admin,
        track.id,
        PromoteRequest(run_id=base_run.id, force=True, reason="revert for an audit"),
    )

    board = world.core.get_leaderboard(alice, track.id)
    by_rev = {e.revision_id: e for e in board.entries}
    assert by_rev[rev_a.id].kept and not by_rev[rev_a.id].is_head
    assert not by_rev[rev_b.id].kept
    assert by_rev[track.baseline_revision].is_head

    lines = world.core.results_tsv(alice, track.id).splitlines()
    assert lines[0] == "run_id\trevision\tval_bpb\tmemory_gb\tstatus\tdescription"
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows[run_a.id][4] == "keep"  # promoted at the time, though not the head now
    assert rows[run_b.id][4] == "discard"
    assert rows[run_c.id][2:5] == ["", "", "crash"]  # never a 0.0 metric
    assert rows[run_c.id][5].startswith("[CRASH]")
    assert rows[run_d.id][2:5] == ["", "", "cancelled"]
    assert {
        rows[r.id][4]
        for r in world.core.list_runs(alice, track.id, None, None, "").items
        if r.revision_id == track.baseline_revision and r.id in rows
    } == {"baseline"}
    assert not any(row[2] == "0.000000" for row in rows.values())

    points = {p.revision_id: p for p in reports.revision_points(world.core.ctx, track)}
    base = points[track.baseline_revision]
    assert base.status == "baseline" and base.n >= 3
    assert base.mean == pytest.approx(
        statistics.fmean(
            [1.50, 1.51, 1.49]
            + [
                r.summary.val_bpb
                for r in world.core.list_runs(alice, track.id, None, None, "").items
                if r.revision_id == track.baseline_revision
                and r.purpose is RunPurpose.REPLICATE
                and r.summary
            ]
        )
    )
    assert base.low < base.mean < base.high
    assert points[rev_a.id].status == "kept" and points[rev_b.id].status == "discarded"
    assert points[rev_b.id].low is None and points[rev_b.id].n == 1  # one run: no interval
    assert rev_c.id not in points and rev_d.id not in points
    png = world.core.progress_png(alice, track.id)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    empty = world.core.progress_png(alice, world.track("empty-track").id)
    assert empty.startswith(b"\x89PNG")
    with pytest.raises(NotFound):
        world.core.results_tsv(alice, "nope-track")
