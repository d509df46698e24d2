"""Proto -> domain decoding of the gRPC answers, for the tests.

The servicer only turns requests into the domain's structs (service/grpc/convert.py);
the tests turn its answers back into the domain's structs to compare them with what
the core and HTTP return. Same rules as the encoding half: an unset proto3 `optional`
is None, an enum at `*_UNSPECIFIED` is None where the domain allows none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from service.domain import models as m
from service.domain.errors import InvalidArgument
from service.grpc.convert import (
    _ERROR_BUDGET_FIELDS,
    _LEADERBOARD_FIELDS,
    _OVERHEAD_FIELDS,
    _REPORTED_FIELDS,
    _SPEED_FIELDS,
    _SPEED_OPTIONAL,
    E,
    enum_from_proto,
    optional,
    policy_from_proto,
    quota_from_proto,
)
from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
from service.grpc.gen.loopy.v1 import resources_pb2 as pb


def from_timestamp(msg: Message, field: str) -> datetime | None:
    if not msg.HasField(field):
        return None
    ts: timestamp_pb2.Timestamp = getattr(msg, field)
    return ts.ToDatetime(tzinfo=UTC)


def _required_time(msg: Message, field: str) -> datetime:
    value = from_timestamp(msg, field)
    return value if value is not None else datetime.fromtimestamp(0, UTC)


def _required_enum(number: int, enum_type: type[E], field: str) -> E:
    value = enum_from_proto(number, enum_type, field)
    if value is None:
        raise InvalidArgument(f"{field} is required", details={"field": field})
    return value


def agent_from_proto(msg: pb.Agent) -> m.Agent:
    return m.Agent(
        id=msg.id,
        name=msg.display_name,
        role=_required_enum(msg.role, m.Role, "role"),
        quota=quota_from_proto(msg.quota),
        create_time=_required_time(msg, "create_time"),
        compute_seconds_used=msg.compute_seconds_used,
    )


def harness_from_proto(msg: pb.Harness) -> m.Harness:
    return m.Harness(
        id=msg.id,
        description=msg.description,
        vocab_size=msg.vocab_size,
        seq_len=msg.seq_len,
        eval_tokens=msg.eval_tokens,
        bos_token_id=msg.bos_token_id,
        time_budget_s=msg.time_budget_s,
        metric=msg.metric,
        files=dict(msg.files),
        size_bytes=msg.size_bytes,
        create_time=_required_time(msg, "create_time"),
    )


def error_budget_from_proto(msg: pb.Track) -> m.ErrorBudget | None:
    if not msg.HasField("error_budget"):
        return None
    return m.ErrorBudget(**{f: getattr(msg.error_budget, f) for f in _ERROR_BUDGET_FIELDS})


def head_change_from_proto(msg: pb.HeadChange) -> m.HeadChange:
    return m.HeadChange(
        id=msg.id,
        track_id=msg.track_id,
        head_version=msg.head_version,
        from_revision=optional(msg, "from_revision"),
        to_revision=msg.to_revision,
        run_id=optional(msg, "run_id"),
        evaluation_id=optional(msg, "evaluation_id"),
        agent_id=msg.agent_id,
        forced=msg.forced,
        reason=msg.reason,
        time=_required_time(msg, "time"),
    )


def track_from_proto(msg: pb.Track) -> m.Track:
    return m.Track(
        id=msg.id,
        display_name=msg.display_name,
        description=msg.description,
        program=msg.program,
        harness_id=msg.harness_id,
        baseline_revision=msg.baseline_revision,
        head_revision=msg.head_revision,
        head_run_id=optional(msg, "head_run_id"),
        device_class=msg.device_class,
        time_budget_s=msg.time_budget_s,
        policy=policy_from_proto(msg.policy),
        allowed_imports=list(msg.allowed_imports),
        noise_std=optional(msg, "noise_std"),
        noise_samples=msg.noise_samples,
        creator_agent_id=msg.creator_agent_id,
        create_time=_required_time(msg, "create_time"),
        update_time=_required_time(msg, "update_time"),
        head_version=msg.head_version,
        budget_kind=enum_from_proto(msg.budget_kind, m.BudgetKind, "budget_kind")
        or m.BudgetKind.WALL_SECONDS,
        token_budget=msg.token_budget,
        fdr_tests=msg.fdr_tests,
        error_budget=error_budget_from_proto(msg),
    )


def program_from_proto(msg: pb.Program) -> m.Program:
    return m.Program(
        track_id=msg.track_id,
        text=msg.text,
        head_revision=msg.head_revision,
        baseline_revision=msg.baseline_revision,
        metric=msg.metric,
        time_budget_s=msg.time_budget_s,
    )


def diff_stats_from_proto(msg: pb.DiffStats) -> m.DiffStats:
    return m.DiffStats(lines_added=msg.lines_added, lines_removed=msg.lines_removed)


def revision_from_proto(msg: pb.Revision) -> m.Revision:
    return m.Revision(
        id=msg.id,
        track_id=msg.track_id,
        parent_id=optional(msg, "parent_id"),
        author_agent_id=msg.author_agent_id,
        description=msg.description,
        source=msg.source,
        diff_to_parent=msg.diff_to_parent,
        stats=diff_stats_from_proto(msg.stats),
        rebased=msg.rebased,
        create_time=_required_time(msg, "create_time"),
        ast_hash=msg.ast_hash,
    )


def revision_view_from_proto(msg: api.GetRevisionResponse) -> m.RevisionView:
    return m.RevisionView(
        revision=revision_from_proto(msg.revision),
        diff_to_baseline=msg.diff_to_baseline,
        stats_to_baseline=diff_stats_from_proto(msg.stats_to_baseline),
        children=list(msg.children),
        run_ids=list(msg.run_ids),
        equivalent_to=list(msg.equivalent_to),
    )


def propose_edit_result_from_proto(msg: api.ProposeEditResponse) -> m.ProposeEditResult:
    return m.ProposeEditResult(
        revision=revision_from_proto(msg.revision),
        proposal_id=msg.proposal_id,
        already_exists=msg.already_exists,
        rebased=msg.rebased,
        existing_run_ids=list(msg.existing_run_ids),
        equivalent_to=list(msg.equivalent_to),
    )


def proposal_from_proto(msg: pb.Proposal) -> m.Proposal:
    return m.Proposal(
        id=msg.id,
        track_id=msg.track_id,
        author_agent_id=msg.author_agent_id,
        base_revision=msg.base_revision,
        head_revision_at_proposal=msg.head_revision_at_proposal,
        format=_required_enum(msg.format, m.PatchFormat, "format"),
        patch=msg.patch,
        description=msg.description,
        outcome=_required_enum(msg.outcome, m.ProposalOutcome, "outcome"),
        revision_id=optional(msg, "revision_id"),
        rejection_message=optional(msg, "rejection_message"),
        rejection_details=(
            json_format.MessageToDict(msg.rejection_details)
            if msg.HasField("rejection_details")
            else None
        ),
        create_time=_required_time(msg, "create_time"),
        request_id=optional(msg, "request_id"),
    )


def summary_from_proto(msg: pb.RunSummary) -> m.RunSummary:
    return m.RunSummary(
        val_bpb=optional(msg, "val_bpb"),
        training_seconds=msg.training_seconds,
        total_seconds=msg.total_seconds,
        total_tokens=msg.total_tokens,
        num_steps=msg.num_steps,
        num_params=msg.num_params,
        peak_memory_mb=msg.peak_memory_mb,
        mfu_percent=optional(msg, "mfu_percent"),
        device_name=msg.device_name,
        sandbox=msg.sandbox,
        overhead=m.OverheadBreakdown(**{f: getattr(msg.overhead, f) for f in _OVERHEAD_FIELDS}),
        artifacts={
            name: m.ArtifactRef(key=ref.key, sha256=ref.sha256, size_bytes=ref.size_bytes)
            for name, ref in msg.artifacts.items()
        },
        compute_seconds=msg.compute_seconds,
        reported=m.ReportedFigures(**{f: optional(msg.reported, f) for f in _REPORTED_FIELDS}),
        speed_probe=optional(msg, "speed_probe"),
    )


def run_from_proto(msg: pb.Run) -> m.Run:
    return m.Run(
        id=msg.id,
        track_id=msg.track_id,
        revision_id=msg.revision_id,
        harness_id=msg.harness_id,
        agent_id=msg.agent_id,
        purpose=_required_enum(msg.purpose, m.RunPurpose, "purpose"),
        seed=msg.seed,
        device_class=msg.device_class,
        time_budget_s=msg.time_budget_s,
        state=_required_enum(msg.state, m.RunState, "state"),
        failure_reason=enum_from_proto(msg.failure_reason, m.FailureReason, "failure_reason"),
        failure_message=optional(msg, "failure_message"),
        summary=summary_from_proto(msg.summary) if msg.HasField("summary") else None,
        worker_id=optional(msg, "worker_id"),
        attempt=msg.attempt,
        create_time=_required_time(msg, "create_time"),
        start_time=from_timestamp(msg, "start_time"),
        end_time=from_timestamp(msg, "end_time"),
        heartbeat_time=from_timestamp(msg, "heartbeat_time"),
        request_id=optional(msg, "request_id"),
        evaluation_id=optional(msg, "evaluation_id"),
        token_budget=msg.token_budget,
    )


def metric_point_from_proto(msg: pb.MetricPoint) -> m.MetricPoint:
    return m.MetricPoint(
        step=msg.step, name=msg.name, value=msg.value, wall_seconds=msg.wall_seconds
    )


def metric_series_from_proto(msg: api.GetMetricsResponse) -> m.MetricSeries:
    return m.MetricSeries(
        run_id=msg.run_id,
        points=[metric_point_from_proto(p) for p in msg.points],
        next_since_step=optional(msg, "next_since_step"),
    )


def run_logs_from_proto(msg: api.GetRunLogsResponse) -> m.RunLogs:
    return m.RunLogs(run_id=msg.run_id, text=msg.text, truncated=msg.truncated)


def run_event_from_proto(msg: pb.RunEvent) -> m.RunEvent:
    """Back to the domain's shape (the same `data` the HTTP event stream sends)."""
    payload = msg.WhichOneof("payload")
    data: dict[str, Any]
    if payload == "run":
        data = msgspec.to_builtins(run_from_proto(msg.run))
    elif payload == "metrics":
        data = {
            "points": msgspec.to_builtins([metric_point_from_proto(p) for p in msg.metrics.points])
        }
    else:
        data = {"text": msg.log.text}
    return m.RunEvent(
        run_id=msg.run_id,
        seq=msg.seq,
        type=_required_enum(msg.type, m.RunEventType, "type"),
        data=data,
        time=_required_time(msg, "time"),
    )


def sample_stats_from_proto(msg: pb.SampleStats) -> m.SampleStats:
    return m.SampleStats(
        revision_id=msg.revision_id,
        run_ids=list(msg.run_ids),
        values=list(msg.values),
        n=msg.n,
        mean=optional(msg, "mean"),
        std=optional(msg, "std"),
    )


def pair_from_proto(msg: pb.EvalPair) -> m.EvalPair:
    return m.EvalPair(
        seed=msg.seed,
        candidate_run_id=msg.candidate_run_id,
        reference_run_id=msg.reference_run_id,
        reused_reference=msg.reused_reference,
        difference=optional(msg, "difference"),
        candidate_speed=optional(msg, "candidate_speed"),
        reference_speed=optional(msg, "reference_speed"),
    )


def speed_from_proto(msg: pb.Evaluation) -> m.SpeedCheck | None:
    if not msg.HasField("speed"):
        return None
    speed = msg.speed
    return m.SpeedCheck(
        **{f: getattr(speed, f) for f in _SPEED_FIELDS},
        **{f: optional(speed, f) for f in _SPEED_OPTIONAL},
    )


def evaluation_from_proto(msg: pb.Evaluation) -> m.Evaluation:
    return m.Evaluation(
        id=msg.id,
        run_id=msg.run_id,
        track_id=msg.track_id,
        state=_required_enum(msg.state, m.EvaluationState, "state"),
        candidate=sample_stats_from_proto(msg.candidate),
        reference=sample_stats_from_proto(msg.reference),
        delta=optional(msg, "delta"),
        noise_std=optional(msg, "noise_std"),
        z_score=optional(msg, "z_score"),
        verdict=enum_from_proto(msg.verdict, m.Verdict, "verdict"),
        diff_stats=diff_stats_from_proto(msg.diff_stats),
        replicate_run_ids=list(msg.replicate_run_ids),
        promoted=msg.promoted,
        failure_message=optional(msg, "failure_message"),
        create_time=_required_time(msg, "create_time"),
        finish_time=from_timestamp(msg, "finish_time"),
        request_id=optional(msg, "request_id"),
        agent_id=msg.agent_id,
        method=msg.method,
        pairs=[pair_from_proto(p) for p in msg.pairs],
        pairs_used=msg.pairs_used,
        max_pairs=msg.max_pairs,
        pairs_per_round=msg.pairs_per_round,
        e_value=optional(msg, "e_value"),
        threshold=optional(msg, "threshold"),
        level=optional(msg, "level"),
        fdr_test_index=optional(msg, "fdr_test_index"),
        interval_low=optional(msg, "interval_low"),
        interval_high=optional(msg, "interval_high"),
        speed=speed_from_proto(msg),
        equivalent_to=optional(msg, "equivalent_to"),
        reason=msg.reason,
        version=msg.version,
        sandbox=msg.sandbox,
    )


def leaderboard_from_proto(msg: api.GetLeaderboardResponse) -> m.Leaderboard:
    return m.Leaderboard(
        track_id=msg.track_id,
        metric=msg.metric,
        entries=[
            m.LeaderboardEntry(**{f: getattr(e, f) for f in _LEADERBOARD_FIELDS})
            for e in msg.entries
        ],
    )
