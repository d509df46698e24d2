"""Every LoopyService capability through a real grpc.aio server and channel."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from service.domain.models import RunState
from service.domain.service import Loopy
from service.grpc.errors import error_from_rpc
from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
from service.grpc.gen.loopy.v1 import resources_pb2 as pb
from tests.support import grpc_decode as decode

Stub = rpc.LoopyServiceStub
Play = Callable[..., Any]


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def create_track(
    stub: Stub, key: str, source: str, track_id: str = "cpu-test", calibration_runs: int = 2
) -> pb.Track:
    answer = await stub.CreateTrack(
        api.CreateTrackRequest(
            track_id=track_id,
            harness_id="harness0001",
            display_name="CPU test track",
            baseline_source=source,
            time_budget_s=5.0,
            policy=pb.DecisionPolicy(calibration_runs=calibration_runs, replicates=2),
        ),
        metadata=auth(key),
    )
    return answer.track


def drain(core: Loopy, play: Play, value_of: dict[str, float]) -> list[str]:
    """Play the worker for every dispatched run still queued; the metric depends
    on the run's revision (`value_of[revision_id]`, the calibration value otherwise)."""
    done = []
    for run in list(core.dispatcher.submitted):  # type: ignore[attr-defined]
        current = core.meta.get_run(run.id)
        if current is None or current.state is not RunState.QUEUED:
            continue
        play(run.id, value_of.get(run.revision_id, 1.50))
        done.append(run.id)
    return done


def lr_edit(new_lr: str) -> api.ProposeEditRequest:
    return api.ProposeEditRequest(
        track_id="cpu-test",
        description=f"learning rate {new_lr}",
        search_replace=pb.SearchReplaceEdit(
            blocks=[
                pb.SearchReplaceBlock(
                    search="LEARNING_RATE = 3e-4  # AdamW",
                    replace=f"LEARNING_RATE = {new_lr}  # AdamW",
                )
            ]
        ),
    )


async def test_tracks_program_and_harnesses(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str, play: Play
) -> None:
    track = await create_track(stub, admin_key, baseline_source)
    assert track.name == "tracks/cpu-test"
    assert track.head_revision == track.baseline_revision
    assert track.policy.calibration_runs == 2 and track.policy.k_sigma == 2.0
    assert track.time_budget_s == 5.0
    assert track.create_time.seconds > 0

    got = await stub.GetTrack(
        api.GetTrackRequest(track_id="tracks/cpu-test"), metadata=auth(admin_key)
    )
    assert got.track == track

    await create_track(stub, admin_key, baseline_source, track_id="cpu-second")
    first = await stub.ListTracks(api.ListTracksRequest(page_size=1), metadata=auth(admin_key))
    assert len(first.tracks) == 1 and first.next_page_token
    second = await stub.ListTracks(
        api.ListTracksRequest(page_size=1, page_token=first.next_page_token),
        metadata=auth(admin_key),
    )
    assert {first.tracks[0].id, second.tracks[0].id} == {"cpu-test", "cpu-second"}

    program = await stub.GetProgram(
        api.GetProgramRequest(track_id="cpu-test"), metadata=auth(admin_key)
    )
    assert program.program.name == "tracks/cpu-test/program"
    assert "val_bpb" in program.program.text
    assert program.program.head_revision == track.head_revision

    harness = await stub.GetHarness(
        api.GetHarnessRequest(harness_id="harnesses/harness0001"), metadata=auth(admin_key)
    )
    assert harness.harness.vocab_size == 256 and harness.harness.metric == "val_bpb"
    listed = await stub.ListHarnesses(api.ListHarnessesRequest(), metadata=auth(admin_key))
    assert [h.id for h in listed.harnesses] == ["harness0001"]


async def test_propose_edit_revisions_and_proposals(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str, play: Play
) -> None:
    track = await create_track(stub, admin_key, baseline_source)
    md = auth(admin_key)

    proposed = await stub.ProposeEdit(lr_edit("6e-4"), metadata=md)
    revision = proposed.revision
    assert not proposed.already_exists
    assert revision.parent_id == track.baseline_revision
    assert "LEARNING_RATE = 6e-4" in revision.source
    assert revision.stats.lines_added == 1 and revision.stats.lines_removed == 1
    assert "+LEARNING_RATE = 6e-4" in revision.diff_to_parent

    # The same source again, as a whole file: nothing new is made.
    again = await stub.ProposeEdit(
        api.ProposeEditRequest(track_id="cpu-test", full_source=revision.source), metadata=md
    )
    assert again.already_exists and again.revision.id == revision.id

    diffed = await stub.ProposeEdit(
        api.ProposeEditRequest(
            track_id="cpu-test",
            description="lr as a diff",
            unified_diff=(
                "--- a/train.py\n+++ b/train.py\n@@ -4,1 +4,1 @@\n"
                "-LEARNING_RATE = 3e-4  # AdamW\n+LEARNING_RATE = 1e-3  # AdamW\n"
            ),
        ),
        metadata=md,
    )
    assert "LEARNING_RATE = 1e-3" in diffed.revision.source

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ProposeEdit(
            api.ProposeEditRequest(
                track_id="cpu-test",
                search_replace=pb.SearchReplaceEdit(
                    blocks=[pb.SearchReplaceBlock(search="NO SUCH LINE", replace="x")]
                ),
            ),
            metadata=md,
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_from_rpc(refused.value).details  # says which block and the nearest text

    view = await stub.GetRevision(
        api.GetRevisionRequest(revision_id=f"revisions/{track.baseline_revision}"), metadata=md
    )
    assert set(view.children) == {revision.id, diffed.revision.id}
    assert view.revision.parent_id == "" and not view.revision.HasField("parent_id")

    revisions = await stub.ListRevisions(api.ListRevisionsRequest(track_id="cpu-test"), metadata=md)
    assert [r.id for r in revisions.revisions] == [
        track.baseline_revision,
        revision.id,
        diffed.revision.id,
    ]
    proposals = await stub.ListProposals(api.ListProposalsRequest(track_id="cpu-test"), metadata=md)
    outcomes = sorted(pb.ProposalOutcome.Name(p.outcome) for p in proposals.proposals)
    assert outcomes.count("PROPOSAL_OUTCOME_REJECTED") == 1
    rejected = next(p for p in proposals.proposals if p.outcome == pb.PROPOSAL_OUTCOME_REJECTED)
    assert rejected.rejection_message and rejected.HasField("rejection_details")
    assert rejected.format == pb.PATCH_FORMAT_SEARCH_REPLACE


async def test_run_lifecycle_metrics_and_logs(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str, play: Play
) -> None:
    await create_track(stub, admin_key, baseline_source)
    md = auth(admin_key)
    launched = (
        await stub.LaunchRun(api.LaunchRunRequest(track_id="cpu-test", seed=7), metadata=md)
    ).run
    assert launched.state == pb.RUN_STATE_QUEUED and launched.seed == 7
    assert launched.purpose == pb.RUN_PURPOSE_EXPERIMENT
    assert not launched.HasField("summary") and not launched.HasField("start_time")
    assert launched.id in core.dispatcher.submitted_ids  # type: ignore[attr-defined]

    await asyncio.to_thread(play, launched.id, 1.42, steps=5)

    run = (await stub.GetRun(api.GetRunRequest(run_id=launched.name), metadata=md)).run
    assert run.state == pb.RUN_STATE_SUCCEEDED
    assert run.summary.val_bpb == pytest.approx(1.42)
    assert run.HasField("end_time") and run.failure_reason == pb.FAILURE_REASON_UNSPECIFIED

    metrics = await stub.GetMetrics(
        api.GetMetricsRequest(run_id=run.id, since_step=2, names=["loss"]), metadata=md
    )
    assert [p.step for p in metrics.points] == [2, 3, 4]
    assert metrics.points[0].value == pytest.approx(3.5)

    logs = await stub.GetRunLogs(api.GetRunLogsRequest(run_id=run.id), metadata=md)
    assert "loss 5.5" in logs.text

    succeeded = await stub.ListRuns(
        api.ListRunsRequest(track_id="cpu-test", state=pb.RUN_STATE_SUCCEEDED), metadata=md
    )
    assert [r.id for r in succeeded.runs] == [run.id]

    queued = (await stub.LaunchRun(api.LaunchRunRequest(track_id="cpu-test"), metadata=md)).run
    cancelled = (await stub.CancelRun(api.CancelRunRequest(run_id=queued.id), metadata=md)).run
    assert cancelled.state == pb.RUN_STATE_CANCELLED

    with pytest.raises(grpc.aio.AioRpcError) as finished:
        await stub.CancelRun(api.CancelRunRequest(run_id=run.id), metadata=md)
    assert finished.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_watch_run_streams_to_the_end_and_resumes(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str, play: Play
) -> None:
    await create_track(stub, admin_key, baseline_source)
    md = auth(admin_key)
    run = (await stub.LaunchRun(api.LaunchRunRequest(track_id="cpu-test"), metadata=md)).run

    async def watch(after_seq: int) -> list[pb.RunEvent]:
        call = stub.WatchRun(api.WatchRunRequest(run_id=run.id, after_seq=after_seq), metadata=md)
        return [answer.event async for answer in call]

    watcher = asyncio.create_task(watch(0))
    await asyncio.sleep(0.2)  # the watcher is live before the run moves
    await asyncio.to_thread(play, run.id, 1.3, steps=4)
    events = await asyncio.wait_for(watcher, timeout=30)

    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    kinds = [pb.RunEventType.Name(e.type) for e in events]
    assert "RUN_EVENT_TYPE_METRICS" in kinds and "RUN_EVENT_TYPE_LOG" in kinds
    last = events[-1]
    assert last.type == pb.RUN_EVENT_TYPE_STATE and last.WhichOneof("payload") == "run"
    assert last.run.state == pb.RUN_STATE_SUCCEEDED
    metric_steps = [p.step for e in events if e.HasField("metrics") for p in e.metrics.points]
    assert metric_steps == [0, 1, 2, 3]
    assert any("loss 5.5" in e.log.text for e in events if e.HasField("log"))
    # Domain round trip: what HTTP's event stream carries as `data`.
    assert decode.run_event_from_proto(last).data["state"] == "SUCCEEDED"

    resumed = await asyncio.wait_for(watch(events[1].seq), timeout=30)
    assert [e.seq for e in resumed] == seqs[2:]


async def test_token_budget_track_and_equivalent_edits(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str, play: Play
) -> None:
    md = auth(admin_key)
    track = (
        await stub.CreateTrack(
            api.CreateTrackRequest(
                track_id="tokens",
                harness_id="harness0001",
                baseline_source=baseline_source,
                time_budget_s=60.0,
                budget_kind=pb.BUDGET_KIND_TOKENS,
                token_budget=250_000,
                policy=pb.DecisionPolicy(calibration_runs=0),
            ),
            metadata=md,
        )
    ).track
    assert track.budget_kind == pb.BUDGET_KIND_TOKENS and track.token_budget == 250_000
    assert track.error_budget.alpha == pytest.approx(0.05) and track.error_budget.tests == 0
    program = (await stub.GetProgram(api.GetProgramRequest(track_id="tokens"), metadata=md)).program
    assert "250,000 tokens" in program.text and "remaining" in program.text
    run = (await stub.LaunchRun(api.LaunchRunRequest(track_id="tokens"), metadata=md)).run
    assert run.token_budget == 250_000
    # A comment-only edit: reported as equivalent, and evaluated at once without a run.
    edited = await stub.ProposeEdit(
        api.ProposeEditRequest(
            track_id="tokens", full_source=baseline_source + "\n# a comment changes nothing\n"
        ),
        metadata=md,
    )
    assert list(edited.equivalent_to) == [track.baseline_revision]
    same = (
        await stub.LaunchRun(
            api.LaunchRunRequest(track_id="tokens", revision_id=edited.revision.id), metadata=md
        )
    ).run
    submitted = len(core.dispatcher.submitted)  # type: ignore[attr-defined]
    evaluation = (await stub.Evaluate(api.EvaluateRequest(run_id=same.id), metadata=md)).evaluation
    assert evaluation.verdict == pb.VERDICT_EQUIVALENT
    assert evaluation.state == pb.EVALUATION_STATE_DONE
    assert evaluation.equivalent_to == track.baseline_revision
    assert len(core.dispatcher.submitted) == submitted  # type: ignore[attr-defined]


async def test_evaluate_promote_and_leaderboard(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str, play: Play
) -> None:
    track = await create_track(stub, admin_key, baseline_source)
    md = auth(admin_key)
    drain(core, play, {})  # calibration runs of the baseline

    candidate = (await stub.ProposeEdit(lr_edit("6e-4"), metadata=md)).revision
    run = (
        await stub.LaunchRun(
            api.LaunchRunRequest(track_id="cpu-test", revision_id=candidate.id), metadata=md
        )
    ).run
    better = {candidate.id: 1.20}
    drain(core, play, better)

    evaluation = (
        await stub.Evaluate(api.EvaluateRequest(run_id=run.id, replicates=2), metadata=md)
    ).evaluation
    assert evaluation.name == f"runs/{run.id}/evaluations/{evaluation.id}"
    for _ in range(5):  # replicates finish; the evaluation then decides
        if not drain(core, play, better):
            break
    done = (
        await stub.GetEvaluation(
            api.GetEvaluationRequest(run_id=run.id, evaluation_id=evaluation.id), metadata=md
        )
    ).evaluation
    assert done.state == pb.EVALUATION_STATE_DONE
    assert done.verdict == pb.VERDICT_KEEP
    assert done.delta == pytest.approx(0.30, abs=0.02)
    assert done.candidate.n >= 2 and done.reference.n >= 2
    # Paired: one seed per pair, the evaluated run first; the statistics behind the verdict.
    assert done.pairs[0].candidate_run_id == run.id and done.pairs[0].seed == run.seed
    assert done.pairs_used == len(done.pairs) and done.e_value >= done.threshold
    assert done.level == pytest.approx(1 / done.threshold) and done.fdr_test_index == 1
    assert done.HasField("speed") and done.reason

    promoted = (
        await stub.PromoteRun(
            api.PromoteRunRequest(
                track_id="cpu-test",
                run_id=run.id,
                expected_head_revision=track.baseline_revision,
            ),
            metadata=md,
        )
    ).track
    assert promoted.head_revision == candidate.id
    assert promoted.head_version > track.head_version
    assert promoted.error_budget.rule == "LORD++" and promoted.error_budget.discoveries == 1
    changes = await stub.ListHeadChanges(
        api.ListHeadChangesRequest(track_id="cpu-test"), metadata=md
    )
    assert [c.to_revision for c in changes.head_changes] == [track.baseline_revision, candidate.id]
    assert changes.head_changes[1].evaluation_id == done.id
    assert not changes.head_changes[1].forced and not changes.head_changes[0].HasField(
        "from_revision"
    )

    board = await stub.GetLeaderboard(api.GetLeaderboardRequest(track_id="cpu-test"), metadata=md)
    assert board.metric == "val_bpb"
    assert board.entries[0].revision_id == candidate.id and board.entries[0].is_head
    assert board.entries[0].rank == 1


async def test_agents_and_roles(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str, play: Play
) -> None:
    created = await stub.CreateAgent(
        api.CreateAgentRequest(
            display_name="explorer", role=pb.ROLE_AGENT, quota=pb.AgentQuota(max_queued_runs=2)
        ),
        metadata=auth(admin_key),
    )
    agent = created.agent
    assert agent.name == f"agents/{agent.id}" and agent.display_name == "explorer"
    assert agent.role == pb.ROLE_AGENT
    assert agent.quota.max_queued_runs == 2
    assert agent.quota.max_compute_seconds == 86_400.0  # unset: the default
    assert created.api_key

    me = await stub.GetAgent(api.GetAgentRequest(agent_id=agent.id), metadata=auth(created.api_key))
    assert me.agent == agent

    for call, request in [
        (stub.CreateTrack, api.CreateTrackRequest(track_id="mine", harness_id="harness0001")),
        (stub.CreateAgent, api.CreateAgentRequest(display_name="another")),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await call(request, metadata=auth(created.api_key))  # type: ignore[operator]
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_create_harness_from_a_directory(
    stub: Stub, core: Loopy, admin_key: str, tmp_path: Path
) -> None:
    tokens = bytes(range(200))
    (tmp_path / "val_tokens.bin").write_bytes(tokens)
    manifest = {
        "format": "loopy-harness/1",
        "harness_id": "0123456789abcdef",
        "vocab_size": 512,
        "bos_token_id": 511,
        "seq_len": 32,
        "val_rows": 6,
        "eval_tokens": 200,
        "time_budget_s": 20,
        "metric": "val_bpb",
        "description": "",
        "token_dtype": "uint16",
        "train_shards": [],
        "files": {"val_tokens.bin": hashlib.sha256(tokens).hexdigest()},
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    request = api.CreateHarnessRequest(
        path=str(tmp_path), description="two hundred tokens", request_id="h-1"
    )
    created = (await stub.CreateHarness(request, metadata=auth(admin_key))).harness
    assert created.name == "harnesses/0123456789abcdef"
    assert created.vocab_size == 512 and created.time_budget_s == 20.0
    assert created.size_bytes == 200 and created.description == "two hundred tokens"
    assert dict(created.files) == manifest["files"]
    stored = core.artifacts.stat("harnesses/0123456789abcdef/val_tokens.bin")
    assert stored is not None and stored.sha256 == manifest["files"]["val_tokens.bin"]
    again = (await stub.CreateHarness(request, metadata=auth(admin_key))).harness
    assert again == created

    (tmp_path / "val_tokens.bin").write_bytes(tokens[::-1])  # no longer matches the manifest
    manifest["harness_id"] = "fedcba9876543210"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(grpc.aio.AioRpcError) as corrupt:
        await stub.CreateHarness(
            api.CreateHarnessRequest(path=str(tmp_path)), metadata=auth(admin_key)
        )
    assert corrupt.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "actual_sha256" in error_from_rpc(corrupt.value).details
