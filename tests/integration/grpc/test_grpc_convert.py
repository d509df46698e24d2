"""Domain -> proto -> domain gives back the same struct, for every resource, with
optional values both present and absent, and every enum value."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import msgspec
import pytest

from service.domain import models as m
from service.domain.errors import InvalidArgument
from service.grpc import convert
from tests.support import grpc_decode as decode

T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def make_run(**overrides: object) -> m.Run:
    values: dict[str, object] = dict(
        id="run_1",
        track_id="t",
        revision_id="r" * 64,
        harness_id="h",
        agent_id="agent_1",
        purpose=m.RunPurpose.REPLICATE,
        seed=123,
        device_class="cuda",
        time_budget_s=300.0,
        state=m.RunState.FAILED,
        failure_reason=m.FailureReason.OOM,
        failure_message="CUDA out of memory",
        summary=m.RunSummary(
            val_bpb=None,
            training_seconds=12.5,
            total_seconds=20.0,
            total_tokens=10**9,
            num_steps=77,
            num_params=124_000_000,
            peak_memory_mb=4096.5,
            mfu_percent=None,
            device_name="NVIDIA H100",
            overhead=m.OverheadBreakdown(queue_wait_seconds=1.5, upload_seconds=0.25),
            artifacts={"log": m.ArtifactRef(key="runs/run_1/log", sha256="a" * 64, size_bytes=9)},
            compute_seconds=14.25,
            reported=m.ReportedFigures(
                training_seconds=1e-6, total_tokens=10**12, device_name="NVIDIA H100"
            ),
        ),
        worker_id="w-1",
        attempt=2,
        create_time=T0,
        start_time=T0,
        end_time=None,
        heartbeat_time=T0,
        request_id=None,
        evaluation_id="eval_1",
    )
    values.update(overrides)
    return m.Run(**values)  # type: ignore[arg-type]


def test_run_round_trip_with_and_without_optionals() -> None:
    for run in [
        make_run(),
        make_run(
            state=m.RunState.QUEUED,
            failure_reason=None,
            failure_message=None,
            summary=None,
            worker_id=None,
            start_time=None,
            heartbeat_time=None,
            request_id="req-1",
            evaluation_id=None,
        ),
    ]:
        assert decode.run_from_proto(convert.run_to_proto(run)) == run


def test_track_agent_harness_program_round_trip() -> None:
    track = m.Track(
        id="cpu",
        display_name="CPU",
        description="d",
        program="# p",
        harness_id="h",
        baseline_revision="b" * 64,
        head_revision="c" * 64,
        head_run_id=None,
        device_class="cpu",
        time_budget_s=60.0,
        policy=m.DecisionPolicy(calibration_runs=5, k_sigma=3.0, auto_promote=True),
        allowed_imports=["torch", "math"],
        noise_std=None,
        noise_samples=0,
        creator_agent_id="agent_1",
        create_time=T0,
        update_time=T0,
        head_version=4,
    )
    assert decode.track_from_proto(convert.track_to_proto(track)) == track
    noisy = msgspec.structs.replace(track, noise_std=0.0, head_run_id="run_2")
    assert decode.track_from_proto(convert.track_to_proto(noisy)) == noisy  # 0.0 is not None

    agent = m.Agent(
        id="agent_1",
        name="explorer",
        role=m.Role.ADMIN,
        quota=m.AgentQuota(max_queued_runs=0, max_compute_seconds=1.5),
        create_time=T0,
        compute_seconds_used=3.25,
    )
    assert decode.agent_from_proto(convert.agent_to_proto(agent)) == agent

    harness = m.Harness(
        id="0123456789abcdef",
        description="demo",
        vocab_size=8192,
        seq_len=512,
        eval_tokens=1 << 20,
        bos_token_id=8191,
        time_budget_s=300.0,
        metric="val_bpb",
        files={"a.bin": "0" * 64},
        size_bytes=1 << 33,
        create_time=T0,
    )
    assert decode.harness_from_proto(convert.harness_to_proto(harness)) == harness

    program = m.Program(
        track_id="cpu",
        text="# go",
        head_revision="c" * 64,
        baseline_revision="b" * 64,
        metric="val_bpb",
        time_budget_s=60.0,
    )
    assert decode.program_from_proto(convert.program_to_proto(program)) == program


def test_proposal_evaluation_and_event_round_trip() -> None:
    proposal = m.Proposal(
        id="prop_1",
        track_id="t",
        author_agent_id="agent_1",
        base_revision="b" * 64,
        head_revision_at_proposal="b" * 64,
        format=m.PatchFormat.SEARCH_REPLACE,
        patch="[]",
        description="x",
        outcome=m.ProposalOutcome.REJECTED,
        revision_id=None,
        rejection_message="block 1 did not match",
        rejection_details={"block": 1.0, "nearest": "LEARNING_RATE", "lines": [1.0, 2.0]},
        create_time=T0,
        request_id="r",
    )
    assert decode.proposal_from_proto(convert.proposal_to_proto(proposal)) == proposal

    evaluation = m.Evaluation(
        id="eval_1",
        run_id="run_1",
        track_id="t",
        state=m.EvaluationState.PENDING,
        candidate=m.SampleStats(
            revision_id="c", run_ids=["run_1"], values=[1.2], n=1, mean=1.2, std=None
        ),
        reference=m.SampleStats(revision_id="b", run_ids=[], values=[], n=0, mean=None, std=None),
        delta=None,
        noise_std=None,
        z_score=None,
        verdict=None,
        diff_stats=m.DiffStats(lines_added=1, lines_removed=1),
        replicate_run_ids=["run_2"],
        promoted=False,
        failure_message=None,
        create_time=T0,
        finish_time=None,
    )
    assert decode.evaluation_from_proto(convert.evaluation_to_proto(evaluation)) == evaluation

    state = m.RunEvent(
        run_id="run_1",
        seq=3,
        type=m.RunEventType.STATE,
        data=msgspec.to_builtins(make_run()),
        time=T0,
    )
    back = decode.run_event_from_proto(convert.run_event_to_proto(state))
    assert msgspec.convert(back.data, m.Run) == make_run()
    metrics = m.RunEvent(
        run_id="run_1",
        seq=4,
        type=m.RunEventType.METRICS,
        data={"points": [{"step": 1, "name": "loss", "value": 2.5, "wall_seconds": 0.5}]},
        time=T0,
    )
    assert decode.run_event_from_proto(convert.run_event_to_proto(metrics)) == metrics


@pytest.mark.parametrize(
    "enum_type",
    [
        m.Role,
        m.RunState,
        m.FailureReason,
        m.RunPurpose,
        m.Verdict,
        m.EvaluationState,
        m.PatchFormat,
        m.ProposalOutcome,
        m.RunEventType,
    ],
)
def test_every_enum_value_has_a_proto_twin(enum_type: type[StrEnum]) -> None:
    for member in enum_type:
        number = convert.enum_to_proto(member, enum_type)
        assert number != 0
        assert convert.enum_from_proto(number, enum_type, "f") is member
    assert convert.enum_from_proto(0, enum_type, "f") is None
    with pytest.raises(InvalidArgument):
        convert.enum_from_proto(999, enum_type, "f")


def test_ids_accept_resource_names() -> None:
    assert convert.strip_collection("tracks/cpu", "tracks") == "cpu"
    assert convert.strip_collection("cpu", "tracks") == "cpu"
    assert convert.strip_collection("runs/x", "tracks") == "runs/x"
