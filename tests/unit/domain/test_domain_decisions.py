"""Evaluation (SPEC §5), promotion as compare-and-swap, leaderboard and history."""

from __future__ import annotations

import math

import pytest

from service.domain.decisions import decide, pooled_std
from service.domain.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
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

POLICY = DecisionPolicy(k_sigma=2.0, min_delta=0.0)


# --- the statistics -------------------------------------------------------------


def test_keep_when_the_gain_is_many_standard_errors():
    d = decide([1.40, 1.41, 1.39], [1.50, 1.51, 1.49], 0.01, POLICY)
    assert d.verdict is Verdict.KEEP
    assert d.delta == pytest.approx(0.10)
    assert d.sigma == pytest.approx(0.01)
    assert d.z_score == pytest.approx(0.10 / (0.01 * math.sqrt(2 / 3)))


def test_discard_when_it_is_not_better():
    assert decide([1.52, 1.53], [1.50, 1.51], 0.01, POLICY).verdict is Verdict.DISCARD
    assert decide([1.50], [1.50], 0.01, POLICY).verdict is Verdict.DISCARD


def test_inconclusive_within_the_noise_or_below_min_delta():
    # A changed seed "winning" by half a sigma is noise.
    assert decide([1.495], [1.50], 0.01, POLICY).verdict is Verdict.INCONCLUSIVE
    big_noise = decide([1.40, 1.60], [1.56, 1.46], None, POLICY)  # pooled std is large
    assert big_noise.verdict is Verdict.INCONCLUSIVE
    strict = DecisionPolicy(k_sigma=2.0, min_delta=0.2)
    assert decide([1.40, 1.41, 1.39], [1.50, 1.51, 1.49], 0.01, strict).verdict is (
        Verdict.INCONCLUSIVE
    )
    # No noise estimate at all: a gain cannot be told from luck.
    unknown = decide([1.0], [2.0], None, POLICY)
    assert unknown.verdict is Verdict.INCONCLUSIVE and unknown.sigma is None


def test_the_larger_noise_estimate_wins():
    noisy_track = decide([1.40, 1.41, 1.39], [1.50, 1.51, 1.49], 0.2, POLICY)
    assert noisy_track.sigma == 0.2 and noisy_track.verdict is Verdict.INCONCLUSIVE
    assert pooled_std([1.0, 3.0], [2.0, 2.0]) == pytest.approx(1.0)
    assert pooled_std([1.0], [2.0]) is None


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
        world.finish(run.id, value)
    return world.core.get_track(world.admin, track.id)


def candidate(world, agent, track, lr="0.02"):
    revision = world.core.propose_edit(agent, track.id, sr("LR = 0.01", f"LR = {lr}")).revision
    run = world.core.launch_run(agent, LaunchRunRequest(track_id=track.id, revision_id=revision.id))
    return revision, run


def replicates_of(world, evaluation):
    return [world.core.get_run(world.admin, i) for i in evaluation.replicate_run_ids]


@pytest.mark.parametrize(
    ("values", "verdict"),
    [
        ((1.40, 1.41, 1.39), Verdict.KEEP),
        ((1.55, 1.56, 1.54), Verdict.DISCARD),
        ((1.495, 1.505, 1.49), Verdict.INCONCLUSIVE),
    ],
)
def test_evaluate_launches_replicates_then_decides(world, values, verdict):
    track = calibrated_track(world)
    alice = world.agent("alice")
    revision, run = candidate(world, alice, track)
    world.finish(run.id, values[0])
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    assert evaluation.state is EvaluationState.PENDING
    # The head already has 3 calibration results: only the candidate needs 2 more seeds.
    reps = replicates_of(world, evaluation)
    assert len(reps) == 2
    assert {r.purpose for r in reps} == {RunPurpose.REPLICATE}
    assert {r.revision_id for r in reps} == {revision.id}
    assert {r.evaluation_id for r in reps} == {evaluation.id}
    assert len({r.seed for r in reps} | {run.seed}) == 3
    assert evaluation.diff_stats.lines_added == 1
    world.finish(reps[0].id, values[1])
    mid = world.core.get_evaluation(alice, run.id, evaluation.id)
    assert mid.state is EvaluationState.PENDING
    world.finish(reps[1].id, values[2])
    done = world.core.get_evaluation(alice, run.id, evaluation.id)
    assert done.state is EvaluationState.DONE and done.verdict is verdict
    assert done.candidate.n == 3 and done.reference.n == 3
    assert done.candidate.mean == pytest.approx(sum(values) / 3)
    assert done.reference.mean == pytest.approx(1.50)
    assert done.delta == pytest.approx(1.50 - sum(values) / 3)
    assert done.noise_std >= track.noise_std
    assert done.finish_time is not None and not done.promoted
    assert world.core.get_track(alice, track.id).head_revision == track.head_revision


def test_auto_promote_advances_the_head_on_keep(world):
    track = calibrated_track(world, auto_promote=True, replicates=1)
    alice = world.agent("alice")
    revision, run = candidate(world, alice, track)
    world.finish(run.id, 1.30)
    done = world.core.evaluate(alice, run.id, EvaluateRequest())  # nothing to launch
    assert done.state is EvaluationState.DONE and done.verdict is Verdict.KEEP and done.promoted
    after = world.core.get_track(alice, track.id)
    assert after.head_revision == revision.id and after.head_run_id == run.id
    assert after.head_version == track.head_version + 1


def test_evaluate_tops_up_the_reference_too(world):
    track = world.track(calibration_runs=0, replicates=2)
    alice = world.agent("alice")
    _, run = candidate(world, alice, track)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    reps = replicates_of(world, evaluation)
    by_revision = sorted(r.revision_id == track.head_revision for r in reps)
    assert by_revision == [False, True, True]  # 1 more candidate, 2 of the head
    assert run.id in evaluation.candidate.run_ids  # the evaluated run counts while queued
    for rep, value in zip(reps, (1.2, 1.5, 1.52), strict=True):
        world.finish(rep.id, value)
    pending = world.core.get_evaluation(alice, run.id, evaluation.id)
    assert pending.state is EvaluationState.PENDING  # the evaluated run itself is not done
    world.finish(run.id, 1.21)
    assert world.core.get_evaluation(alice, run.id, evaluation.id).verdict is Verdict.KEEP


def test_evaluate_is_bounded_by_quota_and_idempotent(world):
    track = calibrated_track(world)
    alice = world.agent("alice", max_queued_runs=2)
    _, run = candidate(world, alice, track)  # 1 active
    req = EvaluateRequest(request_id="e-1")
    evaluation = world.core.evaluate(alice, run.id, req)
    assert len(evaluation.replicate_run_ids) == 1  # 2 wanted, one slot free
    again = world.core.evaluate(alice, run.id, req)
    assert again.id == evaluation.id
    assert len(world.dispatcher.submitted) == 3 + 1 + 1  # calibration, run, one replicate


def test_evaluation_fails_when_no_candidate_succeeds(world):
    track = calibrated_track(world, replicates=2)
    alice = world.agent("alice")
    _, run = candidate(world, alice, track)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    [rep] = replicates_of(world, evaluation)
    world.finish(run.id, None)
    world.finish(rep.id, None)
    done = world.core.get_evaluation(alice, run.id, evaluation.id)
    assert done.state is EvaluationState.FAILED
    assert "no candidate run succeeded" in done.failure_message


def test_evaluate_refusals(world):
    track = calibrated_track(world)
    alice = world.agent("alice")
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
    with pytest.raises(NotFound):
        world.core.evaluate(alice, "run_nope", EvaluateRequest())
    with pytest.raises(NotFound):
        world.core.get_evaluation(alice, other.id, "eval_nope")


def test_evaluate_against_a_chosen_reference_run(world):
    track = calibrated_track(world, replicates=1)
    alice = world.agent("alice")
    rev_a, run_a = candidate(world, alice, track, lr="0.02")
    rev_b, run_b = candidate(world, alice, track, lr="0.03")
    world.finish(run_a.id, 1.45)
    world.finish(run_b.id, 1.60)
    evaluation = world.core.evaluate(alice, run_b.id, EvaluateRequest(reference_run_id=run_a.id))
    assert evaluation.reference.revision_id == rev_a.id
    assert evaluation.verdict is Verdict.DISCARD


# --- promotion ------------------------------------------------------------------


def test_two_agents_promoting_from_the_same_base_one_wins(world):
    track = calibrated_track(world)
    alice, bob = world.agent("alice"), world.agent("bob")
    rev_a, run_a = candidate(world, alice, track, lr="0.02")
    rev_b, run_b = candidate(world, bob, track, lr="0.03")
    world.finish(run_a.id, 1.40)
    world.finish(run_b.id, 1.39)
    won = world.core.promote_run(alice, track.id, PromoteRequest(run_id=run_a.id))
    assert won.head_revision == rev_a.id and won.head_run_id == run_a.id
    with pytest.raises(Conflict) as err:
        world.core.promote_run(bob, track.id, PromoteRequest(run_id=run_b.id))
    assert err.value.details["current_head"] == rev_a.id
    assert err.value.details["expected_head"] == track.baseline_revision
    assert err.value.http_status == 409 and err.value.grpc_status_name == "ABORTED"
    # Promoting the head again changes nothing.
    same = world.core.promote_run(alice, track.id, PromoteRequest(run_id=run_a.id))
    assert same.head_version == won.head_version
    # An explicit expected head lets Bob override knowingly.
    forced = world.core.promote_run(
        bob, track.id, PromoteRequest(run_id=run_b.id, expected_head_revision=rev_a.id)
    )
    assert forced.head_revision == rev_b.id


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


def test_leaderboard_tsv_and_png(world):
    track = calibrated_track(world)  # baseline: 1.50, 1.51, 1.49
    alice = world.agent("alice")
    rev_a, run_a = candidate(world, alice, track, lr="0.02")
    world.finish(run_a.id, 1.40, memory_mb=3072)
    rev_b, run_b = candidate(world, alice, track, lr="0.03")
    world.finish(run_b.id, 1.45)
    rev_c, run_c = candidate(world, alice, track, lr="0.04")
    world.finish(run_c.id, None)
    world.core.promote_run(alice, track.id, PromoteRequest(run_id=run_a.id))

    board = world.core.get_leaderboard(alice, track.id)
    assert board.metric == "val_bpb"
    assert [e.revision_id for e in board.entries] == [rev_a.id, rev_b.id, track.baseline_revision]
    top, _, base = board.entries
    assert (top.rank, top.is_head, top.best_run_id, top.runs) == (1, True, run_a.id, 1)
    assert base.runs == 3 and base.best_value == 1.49
    assert base.mean_value == pytest.approx(1.50) and not base.is_head
    assert len(world.core.get_leaderboard(alice, track.id, limit=1).entries) == 1

    tsv = world.core.results_tsv(alice, track.id)
    lines = tsv.splitlines()
    assert lines[0] == "run_id\trevision\tval_bpb\tmemory_gb\tstatus\tdescription"
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert len(rows) == 6
    assert rows[run_a.id][1:5] == [rev_a.id[:12], "1.400000", "3.0", "keep"]
    assert rows[run_b.id][4] == "discard"
    assert rows[run_c.id][2:5] == ["0.000000", "0.0", "crash"]

    png = world.core.progress_png(alice, track.id)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    empty = world.core.progress_png(alice, world.track("empty-track").id)
    assert empty.startswith(b"\x89PNG")
    with pytest.raises(NotFound):
        world.core.results_tsv(alice, "nope-track")


def test_cancelled_replicate_counts_as_missing(world):
    track = calibrated_track(world, replicates=2)
    alice = world.agent("alice")
    _, run = candidate(world, alice, track)
    world.finish(run.id, 1.30)
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    [rep] = replicates_of(world, evaluation)
    world.core.cancel_run(alice, rep.id)
    done = world.core.get_evaluation(alice, run.id, evaluation.id)
    assert done.state is EvaluationState.DONE and done.candidate.n == 1
    assert world.core.get_run(alice, rep.id).state is RunState.CANCELLED
