"""One suite for every MetadataStore: SQLite, PostgreSQL and the in-memory store.

Each test runs once per implementation (see the `store` fixture), so passing
here means the implementations agree on every method's behaviour.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from service.domain.errors import AlreadyExists, InvalidArgument
from service.domain.models import (
    Agent,
    AgentQuota,
    ArtifactRef,
    DecisionPolicy,
    DiffStats,
    Evaluation,
    EvaluationState,
    FailureReason,
    Harness,
    HeadChange,
    MetricPoint,
    OverheadBreakdown,
    PatchFormat,
    Proposal,
    ProposalOutcome,
    Revision,
    Role,
    Run,
    RunEventType,
    RunPurpose,
    RunState,
    RunSummary,
    SampleStats,
    Track,
    Verdict,
)
from service.domain.ports import MetadataStore

# Microseconds on purpose: the stores must keep them.
T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent(n: int, *, role: Role = Role.AGENT) -> Agent:
    return Agent(
        id=f"agent-{n}",
        name=f"Agent {n}",
        role=role,
        quota=AgentQuota(max_queued_runs=3 + n, max_compute_seconds=1000.5),
        create_time=at(n),
        compute_seconds_used=0.25,
    )


def harness(n: int) -> Harness:
    return Harness(
        id=f"h{n:015d}",
        description=f"harness {n}",
        vocab_size=8192,
        seq_len=256,
        eval_tokens=65536,
        bos_token_id=8191,
        time_budget_s=30.0,
        metric="val_bpb",
        files={"manifest.json": "ab" * 32, "val_tokens.bin": "cd" * 32},
        size_bytes=123_456_789,
        create_time=at(n),
    )


def track(track_id: str, n: int = 0) -> Track:
    return Track(
        id=track_id,
        display_name="Tiny GPT",
        description="make val_bpb go down",
        program="# Program\nbe brave",
        harness_id=harness(0).id,
        baseline_revision="r" * 64,
        head_revision="r" * 64,
        head_run_id=None,
        device_class="cpu",
        time_budget_s=60.0,
        policy=DecisionPolicy(calibration_runs=2, k_sigma=1.5, auto_promote=True),
        allowed_imports=["torch", "math"],
        noise_std=None,
        noise_samples=0,
        creator_agent_id="agent-1",
        create_time=at(n),
        update_time=at(n),
    )


def revision(
    n: int, *, track_id: str = "t-one", parent: str | None = None, author: str = "agent-1"
) -> Revision:
    return Revision(
        id=f"{n:064x}",
        track_id=track_id,
        parent_id=parent,
        author_agent_id=author,
        description=f"change {n}",
        source=f"print({n})\n",
        diff_to_parent="" if parent is None else f"-print({n - 1})\n+print({n})\n",
        stats=DiffStats(lines_added=1, lines_removed=1),
        rebased=n % 2 == 1,
        create_time=at(n),
    )


def proposal(n: int, *, track_id: str = "t-one", author: str = "agent-1") -> Proposal:
    rejected = n % 2 == 1
    return Proposal(
        id=f"prop-{n}",
        track_id=track_id,
        author_agent_id=author,
        base_revision="r" * 64,
        head_revision_at_proposal="r" * 64,
        format=PatchFormat.SEARCH_REPLACE,
        patch='[{"search": "a", "replace": "b"}]',
        description="swap a for b",
        outcome=ProposalOutcome.REJECTED if rejected else ProposalOutcome.ACCEPTED,
        revision_id=None if rejected else f"{n:064x}",
        rejection_message="no match" if rejected else None,
        rejection_details={"hunk": 1, "nearest": ["a", "b"]} if rejected else None,
        create_time=at(n),
        request_id=f"req-{n}",
    )


def run(
    n: int,
    *,
    track_id: str = "t-one",
    revision_id: str = "r" * 64,
    agent_id: str = "agent-1",
    state: RunState = RunState.QUEUED,
    evaluation_id: str | None = None,
) -> Run:
    return Run(
        id=f"run-{n:04d}",
        track_id=track_id,
        revision_id=revision_id,
        harness_id=harness(0).id,
        agent_id=agent_id,
        purpose=RunPurpose.EXPERIMENT if evaluation_id is None else RunPurpose.REPLICATE,
        seed=n,
        device_class="cpu",
        time_budget_s=60.0,
        state=state,
        failure_reason=None,
        failure_message=None,
        summary=None,
        worker_id="worker-a" if state == RunState.RUNNING else None,
        attempt=1,
        create_time=at(n),
        start_time=at(n + 0.5) if state == RunState.RUNNING else None,
        end_time=None,
        heartbeat_time=None,
        request_id=f"req-{n}",
        evaluation_id=evaluation_id,
    )


def finished(r: Run, state: RunState = RunState.SUCCEEDED) -> Run:
    return msgspec.structs.replace(
        r,
        state=state,
        failure_reason=FailureReason.OOM if state == RunState.FAILED else None,
        failure_message="out of memory" if state == RunState.FAILED else None,
        end_time=at(1000.000001),
        summary=RunSummary(
            val_bpb=1.2345678901234,
            training_seconds=59.5,
            total_seconds=70.25,
            total_tokens=10_000_000,
            num_steps=321,
            num_params=12_345_678,
            peak_memory_mb=512.5,
            mfu_percent=None,
            device_name="cpu",
            overhead=OverheadBreakdown(queue_wait_seconds=1.5, eval_seconds=3.25),
            artifacts={
                "checkpoint": ArtifactRef(key="runs/x/ckpt.pt", sha256="e" * 64, size_bytes=9)
            },
        ),
    )


def evaluation(
    n: int, *, track_id: str = "t-one", state: EvaluationState = EvaluationState.PENDING
) -> Evaluation:
    done = state == EvaluationState.DONE
    return Evaluation(
        id=f"eval-{n}",
        run_id=f"run-{n:04d}",
        track_id=track_id,
        state=state,
        candidate=SampleStats(
            revision_id="c" * 64, run_ids=["a", "b"], values=[1.1, 1.2], n=2, mean=1.15, std=0.07
        ),
        reference=SampleStats(
            revision_id="r" * 64, run_ids=[], values=[], n=0, mean=None, std=None
        ),
        delta=0.01 if done else None,
        noise_std=0.002 if done else None,
        z_score=5.0 if done else None,
        verdict=Verdict.KEEP if done else None,
        diff_stats=DiffStats(lines_added=3, lines_removed=0),
        replicate_run_ids=["run-0100"],
        promoted=False,
        failure_message=None,
        create_time=at(n),
        finish_time=at(n + 10) if done else None,
        request_id=None,
    )


def all_pages(fetch: Callable[[str], tuple[list[Any], str]]) -> tuple[list[Any], int]:
    """Follow next_page_token to the end; returns every item and the number of pages."""
    items: list[Any] = []
    token, pages = "", 0
    while True:
        page, token = fetch(token)
        items.extend(page)
        pages += 1
        if not token:
            return items, pages
        assert pages < 100, "paging does not terminate"


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(0..n-1) in n threads released at the same moment."""
    barrier = threading.Barrier(n)

    def go(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


# --- lifecycle, agents and keys ------------------------------------------------------


def test_ping(store: MetadataStore) -> None:
    assert store.ping() is True


def test_agent_round_trip_and_lookup_by_key_hash(store: MetadataStore) -> None:
    admin = agent(1, role=Role.ADMIN)
    store.create_agent(admin, key_hash="hash-1")
    assert store.get_agent(admin.id) == admin
    assert store.get_agent_by_key_hash("hash-1") == admin
    assert store.get_agent("agent-404") is None
    assert store.get_agent_by_key_hash("hash-404") is None
    got = store.get_agent(admin.id)
    assert got is not None and got.create_time.tzinfo is not None
    assert got.create_time == admin.create_time


def test_create_agent_refuses_taken_id_or_key(store: MetadataStore) -> None:
    store.create_agent(agent(1), key_hash="hash-1")
    with pytest.raises(AlreadyExists):
        store.create_agent(agent(1), key_hash="hash-2")
    with pytest.raises(AlreadyExists):
        store.create_agent(agent(2), key_hash="hash-1")
    assert store.get_agent("agent-2") is None


def test_add_compute_seconds_accumulates_atomically(store: MetadataStore) -> None:
    store.create_agent(agent(1), key_hash="hash-1")
    race(8, lambda _: store.add_compute_seconds("agent-1", 1.5))
    got = store.get_agent("agent-1")
    assert got is not None and got.compute_seconds_used == pytest.approx(0.25 + 8 * 1.5)
    store.add_compute_seconds("agent-404", 5.0)  # unknown agent: nothing happens
    assert store.get_agent("agent-404") is None


def test_list_agents_pages_oldest_first(store: MetadataStore) -> None:
    created = [agent(n) for n in (3, 1, 4, 0, 2)]
    for a in created:
        store.create_agent(a, key_hash=f"hash-{a.id}")
    items, pages = all_pages(lambda token: store.list_agents(2, token))
    assert items == sorted(created, key=lambda a: a.create_time)
    assert pages == 3
    everything, token = store.list_agents(10, "")
    assert len(everything) == 5 and token == ""


# --- page tokens -------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_token",
    [
        "garbage",
        "!!!not-base64!!!",
        base64.urlsafe_b64encode(b'{"offset": 2}').decode(),
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
        "A" * 400,
    ],
)
def test_garbled_page_token_is_invalid_argument(store: MetadataStore, bad_token: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        store.list_agents(10, bad_token)
    with pytest.raises(InvalidArgument, match="page_token"):
        store.list_runs(page_token=bad_token)


@pytest.mark.parametrize("page_size", [0, -1])
def test_page_size_must_be_positive(store: MetadataStore, page_size: int) -> None:
    with pytest.raises(InvalidArgument, match="page_size"):
        store.list_tracks(page_size, "")
    with pytest.raises(InvalidArgument, match="page_size"):
        store.list_runs(page_size=page_size)


def test_token_of_another_listing_is_invalid_argument(store: MetadataStore) -> None:
    for n in range(3):
        store.create_agent(agent(n), key_hash=f"hash-{n}")
        store.create_run(run(n, track_id="t-one"))
    _, agents_token = store.list_agents(1, "")
    _, runs_token = store.list_runs(track_id="t-one", page_size=1)
    assert agents_token and runs_token
    with pytest.raises(InvalidArgument, match="page_token"):
        store.list_harnesses(1, agents_token)
    with pytest.raises(InvalidArgument, match="page_token"):
        store.list_runs(track_id="t-one", page_token=agents_token)
    with pytest.raises(InvalidArgument, match="page_token"):  # same listing, other filter
        store.list_runs(track_id="t-two", page_token=runs_token)


# --- idempotency records ---------------------------------------------------------------


def test_request_ids_map_to_the_first_resource(store: MetadataStore) -> None:
    assert store.get_request("agent-1", "run", "req-1") is None
    assert store.put_request("agent-1", "run", "req-1", "run-a") == "run-a"
    assert store.put_request("agent-1", "run", "req-1", "run-b") == "run-a"
    assert store.get_request("agent-1", "run", "req-1") == "run-a"
    # The same request id under another kind or agent is another request.
    assert store.put_request("agent-1", "track", "req-1", "track-a") == "track-a"
    assert store.put_request("agent-2", "run", "req-1", "run-c") == "run-c"


def test_request_id_race_has_one_winner(store: MetadataStore) -> None:
    answers = race(8, lambda i: store.put_request("agent-1", "run", "req-race", f"run-{i}"))
    assert len(set(answers)) == 1
    assert store.get_request("agent-1", "run", "req-race") == answers[0]


# --- harnesses --------------------------------------------------------------------------


def test_harness_insert_once_and_list(store: MetadataStore) -> None:
    first = harness(1)
    assert store.put_harness(first) is True
    assert store.put_harness(msgspec.structs.replace(first, description="changed")) is False
    assert store.get_harness(first.id) == first
    assert store.get_harness("nope") is None
    store.put_harness(harness(0))
    store.put_harness(harness(2))
    items, pages = all_pages(lambda token: store.list_harnesses(2, token))
    assert [h.id for h in items] == [harness(n).id for n in (0, 1, 2)]
    assert pages == 2


# --- tracks --------------------------------------------------------------------------------


def test_track_round_trip_and_taken_id(store: MetadataStore) -> None:
    t = track("t-one")
    store.create_track(t)
    assert store.get_track("t-one") == t
    assert store.get_track("t-404") is None
    with pytest.raises(AlreadyExists):
        store.create_track(track("t-one", n=5))
    assert store.get_track("t-one") == t


def test_list_tracks_oldest_first(store: MetadataStore) -> None:
    for n, name in enumerate(["t-c", "t-a", "t-b"]):
        store.create_track(track(name, n=n))
    items, _ = all_pages(lambda token: store.list_tracks(2, token))
    assert [t.id for t in items] == ["t-c", "t-a", "t-b"]


def test_update_track_noise(store: MetadataStore) -> None:
    original = track("t-one")
    store.create_track(original)
    store.update_track_noise("t-one", 0.0125, 3)
    got = store.get_track("t-one")
    assert got is not None and (got.noise_std, got.noise_samples) == (0.0125, 3)
    assert got.update_time > original.update_time
    assert got.head_version == 0
    store.update_track_noise("t-404", 1.0, 1)  # unknown track: nothing happens
    store.update_track_noise("t-one", None, 0)
    got = store.get_track("t-one")
    assert got is not None and (got.noise_std, got.noise_samples) == (None, 0)


def test_compare_and_set_head_moves_head_once(store: MetadataStore) -> None:
    original = track("t-one")
    store.create_track(original)
    moved = store.compare_and_set_head("t-one", "r" * 64, "s" * 64, "run-0007")
    assert moved is not None
    assert (moved.head_revision, moved.head_run_id, moved.head_version) == ("s" * 64, "run-0007", 1)
    assert moved.update_time > original.update_time
    assert store.get_track("t-one") == moved
    # The same stale expectation now loses and changes nothing.
    assert store.compare_and_set_head("t-one", "r" * 64, "x" * 64, "run-0008") is None
    assert store.get_track("t-one") == moved
    assert store.compare_and_set_head("t-404", "r" * 64, "x" * 64, None) is None


def test_compare_and_set_head_race_has_one_winner(store: MetadataStore) -> None:
    store.create_track(track("t-one"))
    results = race(
        8, lambda i: store.compare_and_set_head("t-one", "r" * 64, f"{i:064x}", f"run-{i}")
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    final = store.get_track("t-one")
    assert final is not None
    assert final.head_revision == winners[0].head_revision and final.head_version == 1


def test_noise_update_and_promotion_do_not_undo_each_other(store: MetadataStore) -> None:
    store.create_track(track("t-one"))
    store.compare_and_set_head("t-one", "r" * 64, "s" * 64, None)
    store.update_track_noise("t-one", 0.5, 4)
    store.compare_and_set_head("t-one", "s" * 64, "u" * 64, "run-1")
    got = store.get_track("t-one")
    assert got is not None
    assert (got.head_revision, got.head_version, got.noise_std, got.noise_samples) == (
        "u" * 64,
        2,
        0.5,
        4,
    )


# --- revisions and proposals ------------------------------------------------------------------


def test_revision_insert_once_keeps_the_first(store: MetadataStore) -> None:
    base = revision(0)
    assert store.put_revision(base) is True
    assert (
        store.put_revision(
            msgspec.structs.replace(base, description="again", author_agent_id="agent-2")
        )
        is False
    )
    assert store.get_revision(base.id) == base
    assert store.get_revision("f" * 64) is None


def test_list_revisions_oldest_first_with_author_filter(store: MetadataStore) -> None:
    revs = [
        revision(n, parent=None if n == 0 else f"{n - 1:064x}", author=f"agent-{n % 2}")
        for n in range(7)
    ]
    for r in reversed(revs):
        store.put_revision(r)
    store.put_revision(revision(99, track_id="t-two"))
    items, pages = all_pages(lambda token: store.list_revisions("t-one", None, 3, token))
    assert items == revs and pages == 3
    mine, _ = all_pages(lambda token: store.list_revisions("t-one", "agent-1", 2, token))
    assert mine == [r for r in revs if r.author_agent_id == "agent-1"]
    assert store.list_revisions("t-404", None, 10, "") == ([], "")


def test_list_children(store: MetadataStore) -> None:
    root = revision(0)
    store.put_revision(root)
    kids = [revision(n, parent=root.id) for n in (1, 2, 3)]
    for kid in kids:
        store.put_revision(kid)
    store.put_revision(revision(4, parent=kids[0].id))
    assert store.list_children(root.id) == [k.id for k in kids]
    assert store.list_children(kids[0].id) == [revision(4).id]
    assert store.list_children(kids[2].id) == []


def test_proposal_round_trip_replace_and_list(store: MetadataStore) -> None:
    props = [proposal(n, author=f"agent-{n % 2}") for n in range(5)]
    for p in props:
        store.put_proposal(p)
    store.put_proposal(proposal(9, track_id="t-two"))
    assert store.get_proposal("prop-1") == props[1]
    assert store.get_proposal("prop-404") is None
    items, _ = all_pages(lambda token: store.list_proposals("t-one", None, 2, token))
    assert items == props
    theirs, _ = all_pages(lambda token: store.list_proposals("t-one", "agent-0", 2, token))
    assert theirs == [p for p in props if p.author_agent_id == "agent-0"]
    amended = msgspec.structs.replace(props[0], rejection_message="late note")
    store.put_proposal(amended)
    assert store.get_proposal("prop-0") == amended


# --- runs -----------------------------------------------------------------------------------------


def test_run_round_trip_with_summary(store: MetadataStore) -> None:
    r = run(1, state=RunState.RUNNING)
    store.create_run(r)
    assert store.get_run(r.id) == r
    done = finished(r, RunState.FAILED)
    assert store.transition_run(r.id, [RunState.RUNNING], done) is True
    assert store.get_run(r.id) == done
    assert store.get_run("run-404") is None


def test_list_runs_newest_first_with_filters(store: MetadataStore) -> None:
    runs = [
        run(0, track_id="t-one", agent_id="agent-1"),
        run(1, track_id="t-one", agent_id="agent-2", state=RunState.RUNNING),
        run(2, track_id="t-two", agent_id="agent-1", revision_id="s" * 64),
        run(3, track_id="t-one", agent_id="agent-1", evaluation_id="eval-1"),
        run(4, track_id="t-one", agent_id="agent-2", revision_id="s" * 64, state=RunState.RUNNING),
    ]
    for r in runs:
        store.create_run(r)
    newest_first = list(reversed(runs))

    def ids(**filters: Any) -> list[str]:
        items, _ = all_pages(
            lambda token: store.list_runs(page_size=2, page_token=token, **filters)
        )
        return [r.id for r in items]

    assert ids() == [r.id for r in newest_first]
    assert ids(track_id="t-one") == ["run-0004", "run-0003", "run-0001", "run-0000"]
    assert ids(revision_id="s" * 64) == ["run-0004", "run-0002"]
    assert ids(agent_id="agent-2") == ["run-0004", "run-0001"]
    assert ids(states=[RunState.RUNNING]) == ["run-0004", "run-0001"]
    assert ids(
        states=[RunState.QUEUED, RunState.RUNNING], agent_id="agent-1", track_id="t-one"
    ) == [
        "run-0003",
        "run-0000",
    ]
    assert ids(evaluation_id="eval-1") == ["run-0003"]
    assert ids(track_id="t-404") == []
    assert ids(states=[]) == []  # an empty filter matches nothing; None means no filter


def test_runs_created_in_the_same_microsecond_page_without_loss(store: MetadataStore) -> None:
    same = [msgspec.structs.replace(run(n), create_time=T0) for n in range(7)]
    for r in same:
        store.create_run(r)
    items, _ = all_pages(lambda token: store.list_runs(page_size=3, page_token=token))
    assert sorted(r.id for r in items) == sorted(r.id for r in same)
    assert len(items) == 7


def test_count_active_runs(store: MetadataStore) -> None:
    store.create_run(run(0, agent_id="agent-1"))
    store.create_run(run(1, agent_id="agent-1", state=RunState.RUNNING))
    store.create_run(run(2, agent_id="agent-2"))
    store.create_run(finished(run(3, agent_id="agent-1")))
    assert store.count_active_runs("agent-1") == 2
    assert store.count_active_runs("agent-2") == 1
    assert store.count_active_runs("agent-404") == 0


def test_transition_run_only_from_allowed_states(store: MetadataStore) -> None:
    queued = run(1)
    store.create_run(queued)
    running = msgspec.structs.replace(
        queued, state=RunState.RUNNING, worker_id="w", start_time=at(5)
    )
    assert store.transition_run(queued.id, [RunState.SUCCEEDED], running) is False
    assert store.get_run(queued.id) == queued
    assert store.transition_run(queued.id, [RunState.QUEUED], running) is True
    assert store.get_run(queued.id) == running
    # Cancelling a run that already finished loses.
    assert store.transition_run(queued.id, [RunState.RUNNING], finished(running)) is True
    cancelled = finished(running, RunState.CANCELLED)
    assert store.transition_run(queued.id, [RunState.QUEUED, RunState.RUNNING], cancelled) is False
    got = store.get_run(queued.id)
    assert got is not None and got.state == RunState.SUCCEEDED
    assert store.transition_run("run-404", [RunState.QUEUED], running) is False


def test_finish_versus_cancel_race_has_one_winner(store: MetadataStore) -> None:
    r = run(1, state=RunState.RUNNING)
    store.create_run(r)
    endings = [finished(r, RunState.SUCCEEDED), finished(r, RunState.CANCELLED)] * 4
    won = race(len(endings), lambda i: store.transition_run(r.id, [RunState.RUNNING], endings[i]))
    assert won.count(True) == 1
    got = store.get_run(r.id)
    assert got == endings[won.index(True)]


def test_heartbeat_only_for_the_running_worker(store: MetadataStore) -> None:
    r = run(1, state=RunState.RUNNING)  # on worker-a
    store.create_run(r)
    store.create_run(run(2))
    assert store.touch_heartbeat(r.id, "worker-b", at(30)) is False
    assert store.touch_heartbeat("run-0002", "worker-a", at(30)) is False  # queued
    assert store.touch_heartbeat("run-404", "worker-a", at(30)) is False
    assert store.touch_heartbeat(r.id, "worker-a", at(30.000001)) is True
    got = store.get_run(r.id)
    assert got == msgspec.structs.replace(r, heartbeat_time=at(30.000001))
    listed, _ = store.list_runs(track_id="t-one", states=[RunState.RUNNING])
    assert listed == [got]


def test_list_stale_runs(store: MetadataStore) -> None:
    quiet = run(1, state=RunState.RUNNING)  # started at 1.5, never beat
    beating = run(2, state=RunState.RUNNING)
    store.create_run(quiet)
    store.create_run(beating)
    store.create_run(run(3))  # queued runs are never stale
    store.touch_heartbeat(beating.id, "worker-a", at(100))
    assert [r.id for r in store.list_stale_runs(at(50))] == [quiet.id]
    assert [r.id for r in store.list_stale_runs(at(101))] == [quiet.id, beating.id]
    assert store.list_stale_runs(at(1)) == []
    store.transition_run(quiet.id, [RunState.RUNNING], finished(quiet))
    assert [r.id for r in store.list_stale_runs(at(101))] == [beating.id]


# --- metrics -------------------------------------------------------------------------------------

NAMES = ["loss", "lr", "tokens_per_s", "val_bpb"]


def points(steps: range, value: float = 0.0) -> list[MetricPoint]:
    return [
        MetricPoint(step=s, name=name, value=value + s + i / 10, wall_seconds=s * 0.5)
        for s in steps
        for i, name in enumerate(NAMES)
    ]


def test_ten_thousand_points_and_since_step(store: MetadataStore) -> None:
    everything = points(range(2500))  # 10 000 points
    for start in range(0, len(everything), 2000):
        store.append_metrics("run-a", everything[start : start + 2000])
    store.append_metrics("run-b", points(range(10), value=100.0))
    assert store.get_metrics("run-a", None, None, 10_000) == everything
    assert store.get_metrics("run-a", None, None, 10) == everything[:10]
    since = store.get_metrics("run-a", 2490, None, 10_000)
    assert since == [p for p in everything if p.step >= 2490]
    loss = store.get_metrics("run-a", 100, ["loss", "val_bpb"], 6)
    assert [(p.step, p.name) for p in loss] == [
        (100, "loss"),
        (100, "val_bpb"),
        (101, "loss"),
        (101, "val_bpb"),
        (102, "loss"),
        (102, "val_bpb"),
    ]
    assert store.get_metrics("run-a", 2500, None, 100) == []
    assert store.get_metrics("run-404", None, None, 100) == []


def test_redelivered_points_overwrite(store: MetadataStore) -> None:
    store.append_metrics("run-a", points(range(3)))
    again = [MetricPoint(step=1, name="loss", value=-1.0, wall_seconds=9.0)]
    store.append_metrics("run-a", again + points(range(3, 4)))
    got = store.get_metrics("run-a", None, None, 100)
    assert len(got) == 16
    assert [p for p in got if (p.step, p.name) == (1, "loss")] == again
    # Inside one batch, the later point for a (step, name) wins.
    store.append_metrics(
        "run-a",
        [
            MetricPoint(step=7, name="loss", value=1.0, wall_seconds=1.0),
            MetricPoint(step=7, name="loss", value=2.0, wall_seconds=2.0),
        ],
    )
    assert store.get_metrics("run-a", 7, None, 10) == [
        MetricPoint(step=7, name="loss", value=2.0, wall_seconds=2.0)
    ]
    store.append_metrics("run-a", [])  # nothing to do, no error


# --- events ---------------------------------------------------------------------------------------


def test_events_number_from_one_per_run(store: MetadataStore) -> None:
    e1 = store.append_event("run-a", RunEventType.STATE, {"state": "QUEUED"}, at(1))
    e2 = store.append_event("run-a", RunEventType.LOG, {"text": "hello\nworld"}, at(2))
    other = store.append_event(
        "run-b", RunEventType.METRICS, {"points": [{"step": 1, "value": 0.5}]}, at(3)
    )
    e3 = store.append_event(
        "run-a", RunEventType.STATE, {"state": "RUNNING", "nested": {"x": [1, None]}}, at(4)
    )
    assert [e1.seq, e2.seq, e3.seq, other.seq] == [1, 2, 3, 1]
    assert store.list_events("run-a", 0, 100) == [e1, e2, e3]
    assert store.list_events("run-a", 1, 100) == [e2, e3]
    assert store.list_events("run-a", 1, 1) == [e2]
    assert store.list_events("run-a", 3, 100) == []
    assert store.list_events("run-b", 0, 100) == [other]
    assert e1.time == at(1) and e1.type == RunEventType.STATE


def test_concurrent_event_appends_get_distinct_seqs(store: MetadataStore) -> None:
    def append_five(i: int) -> list[int]:
        return [
            store.append_event("run-a", RunEventType.LOG, {"text": f"{i}-{k}"}, at(k)).seq
            for k in range(5)
        ]

    seqs = [seq for batch in race(6, append_five) for seq in batch]
    assert sorted(seqs) == list(range(1, 31))
    assert [e.seq for e in store.list_events("run-a", 0, 100)] == list(range(1, 31))


# --- evaluations ---------------------------------------------------------------------------------


def test_evaluation_round_trip_replace_and_pending(store: MetadataStore) -> None:
    pending = [evaluation(1), evaluation(2, track_id="t-two"), evaluation(3)]
    for e in pending:
        store.put_evaluation(e)
    store.put_evaluation(evaluation(4, state=EvaluationState.DONE))
    assert store.get_evaluation("eval-4") == evaluation(4, state=EvaluationState.DONE)
    assert store.get_evaluation("eval-404") is None
    assert store.list_pending_evaluations() == pending
    assert store.list_pending_evaluations("t-one") == [pending[0], pending[2]]
    done = evaluation(1, state=EvaluationState.DONE)
    store.put_evaluation(done)
    assert store.get_evaluation("eval-1") == done
    assert store.list_pending_evaluations("t-one") == [pending[2]]


def test_operational_stats_count_the_work(store: MetadataStore) -> None:
    """What /metrics reports, aggregated by the store (in SQL for SQLite and PostgreSQL)."""
    store.create_run(run(1))
    store.create_run(run(2))
    running = run(3, state=RunState.RUNNING)
    store.create_run(running)
    assert store.touch_heartbeat(running.id, "worker-a", at(50))
    for n, state in ((4, RunState.SUCCEEDED), (5, RunState.FAILED)):
        started = run(n, state=RunState.RUNNING)
        store.create_run(started)
        assert store.transition_run(started.id, [RunState.RUNNING], finished(started, state))
    store.put_evaluation(evaluation(1))
    store.put_evaluation(evaluation(2, state=EvaluationState.DONE))

    stats = store.operational_stats((60.0, 100.0), heartbeat_since=at(10))

    assert stats.runs == {
        ("QUEUED", "cpu"): 2,
        ("RUNNING", "cpu"): 1,
        ("SUCCEEDED", "cpu"): 1,
        ("FAILED", "cpu"): 1,
    }
    for state in ("SUCCEEDED", "FAILED"):
        histogram = stats.run_seconds[state]
        assert (histogram.counts, histogram.count, histogram.total) == ([0, 1], 1, 70.25)
    assert set(stats.run_seconds) == {"SUCCEEDED", "FAILED"}
    assert stats.worker_heartbeats == {"worker-a": at(50).timestamp()}
    assert stats.evaluations == {("PENDING", ""): 1, ("DONE", "KEEP"): 1}
    assert store.operational_stats((60.0,), heartbeat_since=at(60)).worker_heartbeats == {}


# --- decisions v2: head changes, the error-budget counter, evaluation versions --------


def head_change(n: int, *, track_id: str = "t-one", to: str = "s") -> HeadChange:
    return HeadChange(
        id=f"head-{n}",
        track_id=track_id,
        head_version=0,
        from_revision="r" * 64,
        to_revision=to * 64,
        run_id=f"run-{n:04d}",
        evaluation_id=f"eval-{n}",
        agent_id="agent-1",
        forced=n % 2 == 0,
        reason=f"reason {n}",
        time=at(n),
    )


def test_head_change_is_recorded_with_the_swap_that_won(store: MetadataStore) -> None:
    store.create_track(track("t-one"))
    initial = msgspec.structs.replace(head_change(0), from_revision=None, to_revision="r" * 64)
    store.put_head_change(initial)
    results = race(
        6,
        lambda i: store.compare_and_set_head(
            "t-one", "r" * 64, str(i) * 64, None, change=head_change(i + 1, to=str(i))
        ),
    )
    winner = next(r for r in results if r is not None)
    changes, _ = all_pages(lambda tok: store.list_head_changes("t-one", 1, tok))
    # Only the winning swap left a record, with the version it produced.
    assert len(changes) == 2 and changes[0] == initial
    assert changes[1].to_revision == winner.head_revision
    assert changes[1].head_version == winner.head_version == 1
    assert store.list_head_changes("t-two", 10, "") == ([], "")


def test_allocate_fdr_test_counts_atomically(store: MetadataStore) -> None:
    store.create_track(track("t-one"))
    indices = race(8, lambda i: store.allocate_fdr_test("t-one"))
    assert sorted(indices) == list(range(1, 9))
    stored = store.get_track("t-one")
    assert stored is not None and stored.fdr_tests == 8


def test_replace_evaluation_is_a_compare_and_swap(store: MetadataStore) -> None:
    store.put_evaluation(evaluation(1))
    store.put_evaluation(evaluation(2, track_id="t-two"))
    results = race(
        6,
        lambda i: store.replace_evaluation(
            msgspec.structs.replace(evaluation(1), reason=f"writer {i}"), 0
        ),
    )
    assert results.count(True) == 1
    stored = store.get_evaluation("eval-1")
    assert stored is not None and stored.version == 1
    assert stored.reason == f"writer {results.index(True)}"
    assert not store.replace_evaluation(evaluation(404), 0)
    assert [e.id for e in store.list_evaluations("t-one")] == ["eval-1"]
