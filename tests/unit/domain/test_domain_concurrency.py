"""Races the stores' conditional writes must decide: promotion, idempotent launches,
cancel against finish."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from service.domain.errors import Conflict, FailedPrecondition
from service.domain.models import (
    LaunchRunRequest,
    PromoteRequest,
    ProposeEditRequest,
    RunOutcome,
    RunState,
    RunSummary,
    SearchReplaceBlock,
)


def test_concurrent_promotions_from_one_base_have_one_winner(world):
    track = world.track()
    agents = [world.agent(f"agent-{i}") for i in range(6)]
    runs = []
    for i, agent in enumerate(agents):
        rev = world.core.propose_edit(
            agent,
            track.id,
            ProposeEditRequest(
                search_replace=[SearchReplaceBlock(search="LR = 0.01", replace=f"LR = 0.0{i + 2}")]
            ),
        ).revision
        run = world.core.launch_run(agent, LaunchRunRequest(track_id=track.id, revision_id=rev.id))
        world.finish(run.id, 1.4 - i * 0.01)
        runs.append((agent, run))

    def promote(pair):
        # Forced by an admin (no KEEP needed): the compare-and-swap is what is under test.
        agent, run = pair
        req = PromoteRequest(
            run_id=run.id,
            expected_head_revision=track.baseline_revision,
            force=True,
            reason=f"race {agent.name}",
        )
        try:
            return world.core.promote_run(world.admin, track.id, req)
        except Conflict as err:
            return err

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(promote, runs))
    winners = [r for r in results if not isinstance(r, Conflict)]
    assert len(winners) == 1
    head = world.core.get_track(world.admin, track.id)
    assert head.head_revision == winners[0].head_revision and head.head_version == 1
    assert all(r.details["current_head"] == head.head_revision for r in results if r not in winners)
    changes = world.core.list_head_changes(world.admin, track.id, None, "").items
    assert len(changes) == 2 and changes[-1].to_revision == head.head_revision  # one recorded


def test_concurrent_retries_of_one_launch_dispatch_once(world):
    track = world.track()
    alice = world.agent("alice")
    req = LaunchRunRequest(track_id=track.id, request_id="retry-me")
    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda _: world.core.launch_run(alice, req), range(8)))
    assert len({r.id for r in runs}) == 1
    assert world.dispatcher.submitted_ids == [runs[0].id]


def test_cancel_racing_completion_leaves_one_terminal_state(world):
    track = world.track()
    alice = world.agent("alice")
    for _ in range(5):
        run = world.core.launch_run(alice, LaunchRunRequest(track_id=track.id))
        world.core.claim_run(run.id, "w1")

        def cancel(run_id=run.id):
            try:
                return world.core.cancel_run(alice, run_id)
            except FailedPrecondition:
                return None

        def complete(run_id=run.id):
            outcome = RunOutcome(state=RunState.SUCCEEDED, summary=RunSummary(val_bpb=1.0))
            return world.core.complete_run(run_id, "w1", outcome)

        with ThreadPoolExecutor(2) as pool:
            a, b = pool.submit(cancel), pool.submit(complete)
            results = [a.result(), b.result()]
        assert sum(r is not None for r in results) == 1
        final = world.core.get_run(alice, run.id)
        terminal = [
            e.data["state"]
            for e in world.meta.list_events(run.id, 0, 50)
            if e.data.get("state") in ("SUCCEEDED", "CANCELLED")
        ]
        assert terminal == [final.state.value]


def test_concurrent_retries_of_one_proposal_store_one_and_answer_alike(tmp_path, monkeypatch):
    from tests.unit.domain.conftest import World

    # SQLite releases the GIL on every statement, so the retries really interleave.
    monkeypatch.setenv("LOOPY_DOMAIN_TEST_STORE", "sqlite")
    world = World(tmp_path)
    track = world.track()
    alice = world.agent("alice")
    request = ProposeEditRequest(
        search_replace=[SearchReplaceBlock(search="LR = 0.01", replace="LR = 0.05")],
        description="the same edit, retried",
        request_id="propose-once",
    )
    barrier = threading.Barrier(20)

    def propose(_: int):
        barrier.wait()
        return world.core.propose_edit(alice, track.id, request)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(propose, range(20)))
    assert len({(r.proposal_id, r.revision.id) for r in results}) == 1
    proposals, _ = world.meta.list_proposals(track.id, None, 100, "")
    assert [p.request_id for p in proposals].count("propose-once") == 1


def test_concurrent_parses_never_fail_inside_the_parser():
    from service.domain.patching.validate import parse

    source = "x = " + "(" * 150 + "1" + ")" * 150 + "\n" + "def f():\n    return [i for i in x]\n"
    barrier = threading.Barrier(16)

    def work(_: int) -> int:
        barrier.wait()
        return sum(len(parse(source).body) for _ in range(30))

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(work, range(16))) == {60}
