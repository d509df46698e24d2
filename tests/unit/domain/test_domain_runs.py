"""Runs: launch, quotas, idempotency, the state machine, the worker side, the reaper,
metrics, logs, artifacts and watching, in the domain core."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest

from service.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)
from service.domain.models import (
    ArtifactRef,
    FailureReason,
    LaunchRunRequest,
    MetricPoint,
    RunEventType,
    RunOutcome,
    RunPurpose,
    RunState,
    RunSummary,
    utcnow,
)
from service.domain.ports import ArtifactIntegrityError
from service.domain.service import DomainSettings


def launch(world, who, track, **kw):
    return world.core.launch_run(who, LaunchRunRequest(track_id=track.id, **kw))


def states(world, run_id):
    return [
        e.data["state"]
        for e in world.meta.list_events(run_id, 0, 100)
        if e.type is RunEventType.STATE
    ]


def test_launch_queues_and_dispatches_the_head(world):
    track = world.track()
    alice = world.agent("alice")
    run = launch(world, alice, track, seed=7)
    assert run.id.startswith("run_") and len(run.id) == 30
    assert (run.state, run.revision_id, run.seed) == (RunState.QUEUED, track.head_revision, 7)
    assert (run.purpose, run.agent_id, run.attempt) == (RunPurpose.EXPERIMENT, alice.agent_id, 1)
    assert run.harness_id == world.harness.id and run.time_budget_s == track.time_budget_s
    assert world.dispatcher.submitted_ids == [run.id]
    assert states(world, run.id) == ["QUEUED"]
    assert world.core.get_run(world.admin, run.id) == run
    other = launch(world, alice, track)
    assert other.id > run.id  # sortable ids
    assert 0 <= other.seed < 2**31


def test_launch_errors_are_specific(world):
    track = world.track()
    alice = world.agent("alice")
    with pytest.raises(NotFound) as err:
        world.core.launch_run(alice, LaunchRunRequest(track_id="nope-track"))
    assert err.value.details == {"track_id": "nope-track"}
    with pytest.raises(NotFound) as err:
        launch(world, alice, track, revision_id="a" * 64)
    assert err.value.details == {"revision_id": "a" * 64}
    with pytest.raises(InvalidArgument) as err:
        launch(world, alice, track, seed=-1)
    assert err.value.details["field"] == "seed"
    with pytest.raises(InvalidArgument) as err:
        launch(world, alice, track, request_id="x" * 500)
    assert err.value.details["field"] == "request_id"
    assert world.dispatcher.submitted == []


def test_same_request_id_twice_is_one_run_and_one_dispatch(world):
    track = world.track()
    alice, bob = world.agent("alice"), world.agent("bob")
    first = launch(world, alice, track, request_id="r-1")
    again = launch(world, alice, track, request_id="r-1", seed=99)  # body differs: first wins
    assert again == first
    assert world.dispatcher.submitted_ids == [first.id]
    # Request ids are per agent.
    bobs = launch(world, bob, track, request_id="r-1")
    assert bobs.id != first.id


def test_queued_run_quota_says_when_to_retry(world):
    track = world.track()
    alice = world.agent("alice", max_queued_runs=2)
    r1 = launch(world, alice, track)
    launch(world, alice, track)
    with pytest.raises(QuotaExceeded) as err:
        launch(world, alice, track)
    assert err.value.retry_after_s == track.time_budget_s
    assert err.value.details == {
        "quota": "max_queued_runs",
        "limit": 2,
        "active_runs": 2,
        "requested": 1,
    }
    assert err.value.http_status == 429
    world.finish(r1.id, 1.5)  # a slot frees when a run ends
    launch(world, alice, track)


def test_compute_quota_is_charged_training_seconds(world):
    track = world.track()
    alice = world.agent("alice", max_compute_seconds=10.0)
    run = launch(world, alice, track)
    world.finish(run.id, 1.5, training_seconds=12.5)
    assert world.core.get_agent(alice, alice.agent_id).compute_seconds_used == 12.5
    with pytest.raises(QuotaExceeded) as err:
        launch(world, alice, track)
    assert err.value.details["quota"] == "max_compute_seconds"
    assert err.value.details["used"] == 12.5


def test_compute_quota_is_charged_the_supervisors_compute_seconds(world):
    # a run the supervisor killed is charged its wall time, whatever training time it shows
    track = world.track()
    alice = world.agent("alice", max_compute_seconds=100.0)
    run = launch(world, alice, track)
    assert world.core.claim_run(run.id, "w1") is not None
    outcome = RunOutcome(
        state=RunState.FAILED,
        failure_reason=FailureReason.TIMEOUT,
        summary=RunSummary(training_seconds=1e-6, compute_seconds=42.5),
    )
    world.core.complete_run(run.id, "w1", outcome)
    assert world.core.get_agent(alice, alice.agent_id).compute_seconds_used == 42.5


def test_worker_lifecycle_claim_heartbeat_metrics_complete(world):
    track = world.track()
    alice = world.agent("alice")
    run = launch(world, alice, track)
    assignment = world.core.claim_run(run.id, "w1")
    assert assignment is not None
    assert assignment.source == world.baseline and assignment.harness == world.harness
    assert assignment.run.state is RunState.RUNNING and assignment.run.worker_id == "w1"
    assert world.core.claim_run(run.id, "w2") is None  # a second delivery does nothing
    assert world.core.heartbeat(run.id, "w1") is True
    assert world.core.heartbeat(run.id, "w2") is False
    world.core.record_metrics(
        run.id, [MetricPoint(step=s, name="loss", value=5.0 - s, wall_seconds=s) for s in range(3)]
    )
    world.core.record_log(run.id, "step 0\n")
    summary = RunSummary(val_bpb=1.25, training_seconds=4.0, num_steps=3)
    done = world.core.complete_run(
        run.id, "w1", RunOutcome(state=RunState.SUCCEEDED, summary=summary)
    )
    assert done is not None and done.state is RunState.SUCCEEDED and done.end_time is not None
    assert done.summary == summary
    assert world.core.complete_run(run.id, "w1", RunOutcome(state=RunState.FAILED)) is None
    assert world.core.heartbeat(run.id, "w1") is False
    types = [e.type for e in world.meta.list_events(run.id, 0, 100)]
    assert types == [
        RunEventType.STATE,
        RunEventType.STATE,
        RunEventType.METRICS,
        RunEventType.LOG,
        RunEventType.STATE,
    ]
    assert states(world, run.id) == ["QUEUED", "RUNNING", "SUCCEEDED"]


def test_a_success_without_a_metric_is_a_contract_failure(world):
    track = world.track()
    run = launch(world, world.agent("alice"), track)
    world.core.claim_run(run.id, "w1")
    done = world.core.complete_run(
        run.id, "w1", RunOutcome(state=RunState.SUCCEEDED, summary=RunSummary())
    )
    assert done.state is RunState.FAILED and done.failure_reason is FailureReason.CONTRACT
    other = launch(world, world.agent("bob"), track)
    world.core.claim_run(other.id, "w1")
    crashed = world.core.complete_run(other.id, "w1", RunOutcome(state=RunState.FAILED))
    assert crashed.failure_reason is FailureReason.CRASH
    with pytest.raises(InvalidArgument):
        world.core.complete_run(other.id, "w1", RunOutcome(state=RunState.CANCELLED))


def test_cancel_queued_and_running_then_refuse_finished(world):
    track = world.track()
    alice = world.agent("alice")
    queued = launch(world, alice, track)
    cancelled = world.core.cancel_run(alice, queued.id)
    assert cancelled.state is RunState.CANCELLED and cancelled.end_time is not None
    assert world.core.claim_run(queued.id, "w1") is None  # the worker skips it
    running = launch(world, alice, track)
    world.core.claim_run(running.id, "w1")
    world.core.cancel_run(alice, running.id)
    assert world.core.heartbeat(running.id, "w1") is False  # the worker learns to stop
    assert world.core.complete_run(running.id, "w1", RunOutcome(state=RunState.FAILED)) is None
    assert world.dispatcher.cancelled_ids == [queued.id, running.id]
    with pytest.raises(FailedPrecondition) as err:
        world.core.cancel_run(alice, running.id)
    assert err.value.details["state"] == "CANCELLED"
    assert err.value.details["allowed_from"] == ["QUEUED", "RUNNING"]
    finished = launch(world, alice, track)
    world.finish(finished.id, 1.4)
    with pytest.raises(FailedPrecondition) as err:
        world.core.cancel_run(alice, finished.id)
    assert err.value.details["state"] == "SUCCEEDED"
    assert err.value.http_status == 412


def test_only_the_owner_or_an_admin_cancels(world):
    track = world.track()
    alice, bob = world.agent("alice"), world.agent("bob")
    run = launch(world, alice, track)
    with pytest.raises(PermissionDenied) as err:
        world.core.cancel_run(bob, run.id)
    assert err.value.details == {"run_id": run.id, "owner_agent_id": alice.agent_id}
    assert world.core.get_run(bob, run.id).state is RunState.QUEUED  # but bob may read it
    assert world.core.cancel_run(world.admin, run.id).state is RunState.CANCELLED
    with pytest.raises(NotFound):
        world.core.cancel_run(world.admin, "run_missing")


def test_illegal_transitions_are_refused_by_the_store_guard(world):
    track = world.track()
    run = launch(world, world.agent("alice"), track)
    world.finish(run.id, 1.5)
    stored = world.meta.get_run(run.id)
    # No path out of a terminal state, even straight through the store.
    assert not world.meta.transition_run(
        run.id, [RunState.QUEUED, RunState.RUNNING], msgspec.structs.replace(stored)
    )
    assert world.core.claim_run(run.id, "w9") is None


def test_reaper_requeues_once_then_marks_worker_lost(world):
    track = world.track()
    alice = world.agent("alice")
    run = launch(world, alice, track)
    world.core.claim_run(run.id, "w1")
    assert world.core.reap_lost_runs() == []  # fresh heartbeat
    stale = utcnow() - timedelta(seconds=600)
    world.meta.touch_heartbeat(run.id, "w1", stale)
    [requeued] = world.core.reap_lost_runs()
    assert requeued.state is RunState.QUEUED and requeued.attempt == 2
    assert requeued.worker_id is None
    assert world.dispatcher.submitted_ids == [run.id, run.id]  # dispatched again
    assert world.core.heartbeat(run.id, "w1") is False  # the vanished worker is told to stop
    assert world.core.claim_run(run.id, "w2") is not None
    world.meta.touch_heartbeat(run.id, "w2", stale)
    [lost] = world.core.reap_lost_runs()
    assert lost.state is RunState.FAILED and lost.failure_reason is FailureReason.WORKER_LOST
    assert "w2" in lost.failure_message
    assert world.core.reap_lost_runs() == []
    assert states(world, run.id) == ["QUEUED", "RUNNING", "QUEUED", "RUNNING", "FAILED"]


def test_a_broker_outage_delays_a_run_never_loses_it(world):
    track = world.track()
    alice = world.agent("alice")
    world.dispatcher.fail_submits = True
    run = launch(world, alice, track, request_id="launch-1")
    # Accepted (stored QUEUED) although nothing could be published.
    assert run.state is RunState.QUEUED and world.dispatcher.submitted_ids == []
    assert world.core.requeue_unclaimed_runs() == []  # the broker is still down
    # A retry with the same request id is the same accepted run, not a second one.
    again = launch(world, alice, track, request_id="launch-1")
    assert again.id == run.id and again.state is RunState.QUEUED
    world.dispatcher.fail_submits = False
    [published] = world.core.requeue_unclaimed_runs()
    assert published.id == run.id and world.dispatcher.submitted_ids == [run.id]
    # Published just now: not again until requeue_after_s has passed.
    assert world.core.requeue_unclaimed_runs() == []
    assert world.core.claim_run(run.id, "w1") is not None
    assert world.core.claim_run(run.id, "w2") is None  # duplicates stay harmless


def test_an_unclaimed_run_is_published_again_after_requeue_after(tmp_path):
    from tests.unit.domain.conftest import World

    world = World(tmp_path, DomainSettings(requeue_after_s=0.0, watch_poll_s=0.02))
    run = launch(world, world.agent("alice"), world.track())
    assert world.dispatcher.submitted_ids == [run.id]
    # The message was lost (broker restarted empty): the sweeper publishes it again.
    assert [r.id for r in world.core.requeue_unclaimed_runs()] == [run.id]
    assert world.dispatcher.submitted_ids == [run.id, run.id]
    world.core.claim_run(run.id, "w1")
    assert world.core.requeue_unclaimed_runs() == []  # claimed runs are not swept


def test_release_hands_a_run_back_without_spending_its_attempt(world):
    run = launch(world, world.agent("alice"), world.track())
    world.core.claim_run(run.id, "w1")
    assert world.core.release_run(run.id, "w2", "not mine") is None
    released = world.core.release_run(run.id, "w1", "worker shutting down")
    assert released.state is RunState.QUEUED and released.attempt == 1
    assert released.worker_id is None
    assert world.dispatcher.submitted_ids == [run.id, run.id]
    again = world.core.claim_run(run.id, "w2")
    assert again is not None and again.run.attempt == 1
    assert states(world, run.id) == ["QUEUED", "RUNNING", "QUEUED", "RUNNING"]


def test_an_infrastructure_failure_is_not_charged(world):
    alice = world.agent("alice")
    run = launch(world, alice, world.track())
    world.core.claim_run(run.id, "w1")
    outcome = RunOutcome(
        state=RunState.FAILED,
        failure_reason=FailureReason.INFRASTRUCTURE,
        failure_message="worker error",
        summary=RunSummary(training_seconds=30.0),
    )
    done = world.core.complete_run(run.id, "w1", outcome)
    assert done.failure_reason is FailureReason.INFRASTRUCTURE
    assert world.core.get_agent(alice, alice.agent_id).compute_seconds_used == 0.0


def test_readiness_names_the_dependency_that_is_down(world):
    assert world.core.readiness() == {
        "metadata_store": True,
        "broker": True,
        "artifact_store": True,
    }
    world.dispatcher.fail_submits = True
    world.core.settings.ready_cache_s = 0.0
    assert world.core.readiness()["broker"] is False


def test_huge_since_step_is_an_invalid_argument(world):
    run = launch(world, world.agent("alice"), world.track())
    with pytest.raises(InvalidArgument) as err:
        world.core.get_metrics(world.admin, run.id, 2**70, None)
    assert err.value.details["field"] == "since_step"


def test_a_request_id_with_nul_is_an_invalid_argument(world):
    with pytest.raises(InvalidArgument) as err:
        launch(world, world.agent("alice"), world.track(), request_id="a\x00b")
    assert err.value.details["field"] == "request_id"


def test_metrics_since_step_names_limit_and_continuation(world):
    track = world.track()
    run = launch(world, world.agent("alice"), track)
    world.core.claim_run(run.id, "w1")
    points = [
        MetricPoint(step=s, name=n, value=float(s), wall_seconds=s * 0.1)
        for s in range(10)
        for n in ("loss", "lr")
    ]
    world.core.record_metrics(run.id, points)
    everything = world.core.get_metrics(world.admin, run.id, None, None)
    assert len(everything.points) == 20 and everything.next_since_step is None
    recent = world.core.get_metrics(world.admin, run.id, 7, ["loss"])
    assert [(p.step, p.name) for p in recent.points] == [(7, "loss"), (8, "loss"), (9, "loss")]
    # A limit that cuts a step in half ends on the whole step before it.
    page = world.core.get_metrics(world.admin, run.id, None, None, limit=5)
    assert [p.step for p in page.points] == [0, 0, 1, 1] and page.next_since_step == 2
    seen = []
    since = 0
    while since is not None:
        chunk = world.core.get_metrics(world.admin, run.id, since, None, limit=6)
        seen += chunk.points
        since = chunk.next_since_step
    assert seen == everything.points
    # Redelivered points overwrite, never duplicate.
    world.core.record_metrics(run.id, points[:2])
    assert len(world.core.get_metrics(world.admin, run.id, None, None).points) == 20
    with pytest.raises(InvalidArgument) as err:
        world.core.get_metrics(world.admin, run.id, -1, None)
    assert err.value.details["field"] == "since_step"
    with pytest.raises(NotFound):
        world.core.get_metrics(world.admin, "run_nope", None, None)


def test_metric_limit_is_capped_by_settings(world):
    from service.domain.service import DomainSettings, Loopy

    core = Loopy(world.meta, world.artifacts, world.dispatcher, DomainSettings(max_metric_points=4))
    track = world.track()
    run = launch(world, world.agent("alice"), track)
    world.core.record_metrics(
        run.id, [MetricPoint(step=s, name="loss", value=1.0, wall_seconds=0) for s in range(10)]
    )
    page = core.get_metrics(world.admin, run.id, None, None, limit=1000)
    assert len(page.points) == 4 and page.next_since_step == 4


def test_logs_stream_while_running_then_come_from_the_artifact(world):
    track = world.track()
    run = launch(world, world.agent("alice"), track)
    world.core.claim_run(run.id, "w1")
    world.core.record_log(run.id, "step 0 loss 5.0\n")
    world.core.record_log(run.id, "step 1 loss 4.0\n")
    live = world.core.get_run_logs(world.admin, run.id)
    assert live.text == "step 0 loss 5.0\nstep 1 loss 4.0\n" and not live.truncated
    tail = world.core.get_run_logs(world.admin, run.id, tail_bytes=16)
    assert tail.text == "step 1 loss 4.0\n" and tail.truncated
    full_log = b"the complete log\n" * 3
    ref = world.artifacts.put_bytes(f"runs/{run.id}/log", full_log)
    src = world.artifacts.put_bytes(f"runs/{run.id}/source", world.baseline.encode())
    summary = RunSummary(val_bpb=1.3, artifacts={"log": ref, "source": src})
    world.core.complete_run(run.id, "w1", RunOutcome(state=RunState.SUCCEEDED, summary=summary))
    assert world.core.get_run_logs(world.admin, run.id).text == full_log.decode()
    chunks, size, sha = world.core.open_artifact(world.admin, run.id, "source")
    assert b"".join(chunks).decode() == world.baseline
    assert (size, sha) == (src.size_bytes, src.sha256)
    assert world.core.get_artifact_url(world.admin, run.id, "source") is None  # served by API
    with pytest.raises(NotFound) as err:
        world.core.open_artifact(world.admin, run.id, "checkpoint")
    assert err.value.details["available"] == ["log", "source"]
    world.artifacts.corrupt(ref.key)
    with pytest.raises(Exception) as corrupt:
        world.core.get_run_logs(world.admin, run.id)
    assert "sha256" in str(corrupt.value)
    chunks, _, _ = world.core.open_artifact(world.admin, run.id, "log")
    with pytest.raises(ArtifactIntegrityError):
        b"".join(chunks)


def test_artifact_urls_come_from_the_store_when_it_can_presign(world):
    from service.domain.service import Loopy
    from tests.support.fakes import MemoryArtifactStore

    store = MemoryArtifactStore(presign_base="http://s3.test/")
    core = Loopy(world.meta, store, world.dispatcher)
    track = world.track()
    run = launch(world, world.agent("alice"), track)
    world.core.claim_run(run.id, "w1")
    ref = ArtifactRef(key=f"runs/{run.id}/checkpoint", sha256="0" * 64, size_bytes=1)
    world.core.complete_run(
        run.id,
        "w1",
        RunOutcome(
            state=RunState.SUCCEEDED,
            summary=RunSummary(val_bpb=1.0, artifacts={"checkpoint": ref}),
        ),
    )
    url = core.get_artifact_url(world.admin, run.id, "checkpoint")
    assert url == f"http://s3.test/runs/{run.id}/checkpoint?expires=3600"


async def test_watch_streams_events_and_ends_after_the_terminal_state(world):
    track = world.track()
    run = launch(world, world.agent("alice"), track)
    received = []

    async def watch():
        async for event in world.core.watch_run(world.admin, run.id):
            received.append(event)

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.05)
    assert [e.seq for e in received] == [1]  # the QUEUED event, then it waits
    await asyncio.to_thread(world.core.claim_run, run.id, "w1")
    await asyncio.to_thread(
        world.core.record_metrics,
        run.id,
        [MetricPoint(step=0, name="loss", value=3.0, wall_seconds=0.0)],
    )
    await asyncio.to_thread(
        world.core.complete_run,
        run.id,
        "w1",
        RunOutcome(state=RunState.SUCCEEDED, summary=RunSummary(val_bpb=1.1)),
    )
    await asyncio.wait_for(task, timeout=5)
    assert [e.seq for e in received] == [1, 2, 3, 4]
    assert received[-1].data["state"] == "SUCCEEDED"
    assert received[2].data["points"][0]["value"] == 3.0
    # Resuming after the end replays only what is left, then ends at once.
    resumed = [e async for e in world.core.watch_run(world.admin, run.id, after_seq=2)]
    assert [e.seq for e in resumed] == [3, 4]
    after_end = [e async for e in world.core.watch_run(world.admin, run.id, after_seq=4)]
    assert after_end == []


async def test_watch_unknown_run_is_not_found(world):
    with pytest.raises(NotFound):
        async for _ in world.core.watch_run(world.admin, "run_nope"):
            pass
    with pytest.raises(InvalidArgument):
        async for _ in world.core.watch_run(world.admin, "run_nope", after_seq=-3):
            pass


def test_list_runs_filters_by_state_and_pages_newest_first(world):
    track = world.track()
    alice = world.agent("alice")
    runs = [launch(world, alice, track) for _ in range(3)]
    world.finish(runs[0].id, 1.2)
    page = world.core.list_runs(alice, track.id, None, 2, "")
    assert [r.id for r in page.items] == [runs[2].id, runs[1].id]
    rest = world.core.list_runs(alice, track.id, None, 2, page.next_page_token)
    assert [r.id for r in rest.items] == [runs[0].id] and rest.next_page_token == ""
    done = world.core.list_runs(alice, track.id, RunState.SUCCEEDED, None, "")
    assert [r.id for r in done.items] == [runs[0].id]
    with pytest.raises(NotFound):
        world.core.list_runs(alice, "nope-track", None, None, "")
