"""`sandbox` on evaluations and leaderboard rows: one unsealed run makes the whole group
say "none" (the operator's unsafe mode is never averaged away)."""

from __future__ import annotations

from service.domain.models import (
    EvaluateRequest,
    EvaluationState,
    LaunchRunRequest,
    ProposeEditRequest,
    RunState,
    SearchReplaceBlock,
    sandbox_of,
)


def test_sandbox_of_a_group_of_runs(world):
    track = world.track(calibration_runs=3)
    runs = world.core.list_runs(world.admin, track.id, None, None, "").items
    assert sandbox_of(runs) == ""  # none finished yet
    sealed = world.finish(runs[0].id, 1.5)
    unsealed = world.finish(runs[1].id, 1.5, sandbox="none")
    assert sandbox_of([sealed]) == "bubblewrap"
    assert sandbox_of([sealed, unsealed]) == "none"


def test_evaluation_and_leaderboard_say_none_when_any_run_was_unsealed(world):
    track = world.track(calibration_runs=2, replicates=2)
    for run in world.core.list_runs(world.admin, track.id, None, None, "").items:
        world.finish(run.id, 1.50)
    alice = world.agent("alice")
    edit = ProposeEditRequest(
        search_replace=[SearchReplaceBlock(search="LR = 0.01", replace="LR = 0.02")]
    )
    revision = world.core.propose_edit(alice, track.id, edit).revision
    run = world.core.launch_run(alice, LaunchRunRequest(track_id=track.id, revision_id=revision.id))
    world.finish(run.id, 1.40, sandbox="none")
    evaluation = world.core.evaluate(alice, run.id, EvaluateRequest())
    assert evaluation.sandbox == "none"
    done = evaluation
    while done.state is EvaluationState.PENDING:  # paired rounds until it decides
        for replicate_id in done.replicate_run_ids:
            if world.core.get_run(alice, replicate_id).state is RunState.QUEUED:
                world.finish(replicate_id, 1.41)  # sealed
        done = world.core.get_evaluation(alice, run.id, evaluation.id)
    assert done.state is EvaluationState.DONE and done.sandbox == "none"
    rows = {e.revision_id: e.sandbox for e in world.core.get_leaderboard(alice, track.id).entries}
    assert rows == {revision.id: "none", track.head_revision: "bubblewrap"}
