"""Proto <-> domain conversion for the gRPC transport.

The servicer needs domain -> proto for answers and proto -> domain for
requests; decoding answers back into the domain's structs is only the tests'
business (tests/support/grpc_decode.py).

Rules: a proto3 `optional` scalar that is not set is `None`; an unset message
field of a nullable struct is `None`; an enum at `*_UNSPECIFIED` is `None`
where the domain allows none, else a wrong value. Enum values are the domain's
value prefixed by the proto enum's type prefix (`RunState.QUEUED` <->
`RUN_STATE_QUEUED`). Unknown enum numbers (proto3 enums are open) are refused
with InvalidArgument naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import msgspec
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from service.domain import models as m
from service.domain.errors import InvalidArgument
from service.domain.service import CreateAgentRequest, CreateHarnessRequest, CreateTrackRequest
from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
from service.grpc.gen.loopy.v1 import resources_pb2 as pb

E = TypeVar("E", bound=StrEnum)

# --- Scalars -------------------------------------------------------------------


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def optional(msg: Message, field: str) -> Any:
    """The value of a proto3 `optional` field, None when unset."""
    return getattr(msg, field) if msg.HasField(field) else None


def strip_collection(value: str, collection: str) -> str:
    """Accept a bare id or a resource name: "tracks/t1" and "t1" are the same track."""
    prefix = collection + "/"
    return value[len(prefix) :] if value.startswith(prefix) else value


# --- Enums ---------------------------------------------------------------------

_PREFIXES: dict[type[StrEnum], tuple[str, Any]] = {
    m.Role: ("ROLE_", pb.Role),
    m.RunState: ("RUN_STATE_", pb.RunState),
    m.FailureReason: ("FAILURE_REASON_", pb.FailureReason),
    m.RunPurpose: ("RUN_PURPOSE_", pb.RunPurpose),
    m.Verdict: ("VERDICT_", pb.Verdict),
    m.EvaluationState: ("EVALUATION_STATE_", pb.EvaluationState),
    m.PatchFormat: ("PATCH_FORMAT_", pb.PatchFormat),
    m.ProposalOutcome: ("PROPOSAL_OUTCOME_", pb.ProposalOutcome),
    m.RunEventType: ("RUN_EVENT_TYPE_", pb.RunEventType),
    m.BudgetKind: ("BUDGET_KIND_", pb.BudgetKind),
}


def enum_to_proto(value: StrEnum | None, enum_type: type[StrEnum]) -> Any:
    """Domain enum (or None) -> proto enum number (None -> 0, UNSPECIFIED)."""
    if value is None:
        return 0
    prefix, proto_enum = _PREFIXES[enum_type]
    return proto_enum.Value(prefix + value.value.upper())


def enum_from_proto(number: int, enum_type: type[E], field: str) -> E | None:
    """Proto enum number -> domain enum; None for UNSPECIFIED; InvalidArgument when unknown."""
    if number == 0:
        return None
    prefix, proto_enum = _PREFIXES[enum_type]
    try:
        name = proto_enum.Name(number)
    except ValueError:
        raise InvalidArgument(
            f"{field}: unknown enum value {number}",
            details={"field": field, "value": number},
        ) from None
    wanted = name[len(prefix) :]
    for member in enum_type:
        if member.value.upper() == wanted:
            return member
    raise InvalidArgument(f"{field}: unknown value {name}", details={"field": field})


# --- Agents --------------------------------------------------------------------


def quota_to_proto(quota: m.AgentQuota) -> pb.AgentQuota:
    return pb.AgentQuota(
        max_queued_runs=quota.max_queued_runs, max_compute_seconds=quota.max_compute_seconds
    )


def quota_from_proto(msg: pb.AgentQuota) -> m.AgentQuota:
    """Unset fields take the domain defaults."""
    values: dict[str, Any] = {}
    for field in ("max_queued_runs", "max_compute_seconds"):
        if msg.HasField(field):
            values[field] = getattr(msg, field)
    return m.AgentQuota(**values)


def agent_to_proto(agent: m.Agent) -> pb.Agent:
    return pb.Agent(
        name=f"agents/{agent.id}",
        id=agent.id,
        display_name=agent.name,
        role=enum_to_proto(agent.role, m.Role),
        quota=quota_to_proto(agent.quota),
        create_time=timestamp(agent.create_time),
        compute_seconds_used=agent.compute_seconds_used,
    )


def create_agent_request(msg: api.CreateAgentRequest) -> CreateAgentRequest:
    return CreateAgentRequest(
        name=msg.display_name,
        role=enum_from_proto(msg.role, m.Role, "role") or m.Role.AGENT,
        quota=quota_from_proto(msg.quota) if msg.HasField("quota") else None,
    )


# --- Harness -------------------------------------------------------------------


def harness_to_proto(harness: m.Harness) -> pb.Harness:
    return pb.Harness(
        name=f"harnesses/{harness.id}",
        id=harness.id,
        description=harness.description,
        vocab_size=harness.vocab_size,
        seq_len=harness.seq_len,
        eval_tokens=harness.eval_tokens,
        bos_token_id=harness.bos_token_id,
        time_budget_s=harness.time_budget_s,
        metric=harness.metric,
        files=harness.files,
        size_bytes=harness.size_bytes,
        create_time=timestamp(harness.create_time),
    )


def create_harness_request(msg: api.CreateHarnessRequest) -> CreateHarnessRequest:
    return CreateHarnessRequest(
        path=optional(msg, "path"),
        demo=msg.demo,
        description=msg.description,
        request_id=msg.request_id or None,
    )


# --- Tracks --------------------------------------------------------------------

_POLICY_FIELDS: tuple[Any, ...] = (
    "calibration_runs",
    "replicates",
    "k_sigma",
    "min_delta",
    "auto_promote",
    "max_pairs",
    "fdr_alpha",
    "speed_tolerance",
)

_ERROR_BUDGET_FIELDS = (
    "rule",
    "alpha",
    "tests",
    "discoveries",
    "spent",
    "earned",
    "remaining",
    "next_level",
)


def error_budget_to_proto(budget: m.ErrorBudget | None) -> pb.ErrorBudget | None:
    if budget is None:
        return None
    return pb.ErrorBudget(**{f: getattr(budget, f) for f in _ERROR_BUDGET_FIELDS})


def head_change_to_proto(change: m.HeadChange) -> pb.HeadChange:
    return pb.HeadChange(
        id=change.id,
        track_id=change.track_id,
        head_version=change.head_version,
        from_revision=change.from_revision,
        to_revision=change.to_revision,
        run_id=change.run_id,
        evaluation_id=change.evaluation_id,
        agent_id=change.agent_id,
        forced=change.forced,
        reason=change.reason,
        time=timestamp(change.time),
    )


def policy_to_proto(policy: m.DecisionPolicy) -> pb.DecisionPolicy:
    return pb.DecisionPolicy(**{f: getattr(policy, f) for f in _POLICY_FIELDS})


def policy_from_proto(msg: pb.DecisionPolicy) -> m.DecisionPolicy:
    """Unset fields take the domain defaults."""
    return m.DecisionPolicy(**{f: getattr(msg, f) for f in _POLICY_FIELDS if msg.HasField(f)})


def track_to_proto(track: m.Track) -> pb.Track:
    return pb.Track(
        name=f"tracks/{track.id}",
        id=track.id,
        display_name=track.display_name,
        description=track.description,
        program=track.program,
        harness_id=track.harness_id,
        baseline_revision=track.baseline_revision,
        head_revision=track.head_revision,
        head_run_id=track.head_run_id,
        device_class=track.device_class,
        time_budget_s=track.time_budget_s,
        policy=policy_to_proto(track.policy),
        allowed_imports=track.allowed_imports,
        noise_std=track.noise_std,
        noise_samples=track.noise_samples,
        creator_agent_id=track.creator_agent_id,
        create_time=timestamp(track.create_time),
        update_time=timestamp(track.update_time),
        head_version=track.head_version,
        budget_kind=enum_to_proto(track.budget_kind, m.BudgetKind),
        token_budget=track.token_budget,
        fdr_tests=track.fdr_tests,
        error_budget=error_budget_to_proto(track.error_budget),
    )


def create_track_request(msg: api.CreateTrackRequest) -> CreateTrackRequest:
    values: dict[str, Any] = {}
    if msg.device_class:
        values["device_class"] = msg.device_class
    if msg.HasField("policy"):
        values["policy"] = policy_from_proto(msg.policy)
    budget_kind = enum_from_proto(msg.budget_kind, m.BudgetKind, "budget_kind")
    if budget_kind is not None:
        values["budget_kind"] = budget_kind
    return CreateTrackRequest(
        token_budget=msg.token_budget,
        track_id=strip_collection(msg.track_id, "tracks"),
        harness_id=strip_collection(msg.harness_id, "harnesses"),
        display_name=msg.display_name,
        description=msg.description,
        program=optional(msg, "program"),
        baseline_source=optional(msg, "baseline_source"),
        time_budget_s=optional(msg, "time_budget_s"),
        allowed_imports=list(msg.allowed_imports) or None,
        request_id=msg.request_id or None,
        **values,
    )


def program_to_proto(program: m.Program) -> pb.Program:
    return pb.Program(
        name=f"tracks/{program.track_id}/program",
        track_id=program.track_id,
        text=program.text,
        head_revision=program.head_revision,
        baseline_revision=program.baseline_revision,
        metric=program.metric,
        time_budget_s=program.time_budget_s,
    )


# --- Revisions and proposals ---------------------------------------------------


def diff_stats_to_proto(stats: m.DiffStats) -> pb.DiffStats:
    return pb.DiffStats(lines_added=stats.lines_added, lines_removed=stats.lines_removed)


def revision_to_proto(revision: m.Revision) -> pb.Revision:
    return pb.Revision(
        name=f"revisions/{revision.id}",
        id=revision.id,
        track_id=revision.track_id,
        parent_id=revision.parent_id,
        author_agent_id=revision.author_agent_id,
        description=revision.description,
        source=revision.source,
        diff_to_parent=revision.diff_to_parent,
        stats=diff_stats_to_proto(revision.stats),
        rebased=revision.rebased,
        create_time=timestamp(revision.create_time),
        ast_hash=revision.ast_hash,
    )


def revision_view_to_proto(view: m.RevisionView) -> api.GetRevisionResponse:
    return api.GetRevisionResponse(
        revision=revision_to_proto(view.revision),
        diff_to_baseline=view.diff_to_baseline,
        stats_to_baseline=diff_stats_to_proto(view.stats_to_baseline),
        children=view.children,
        run_ids=view.run_ids,
        equivalent_to=view.equivalent_to,
    )


def propose_edit_request(msg: api.ProposeEditRequest) -> m.ProposeEditRequest:
    edit = msg.WhichOneof("edit")
    return m.ProposeEditRequest(
        description=msg.description,
        base_revision=optional(msg, "base_revision"),
        unified_diff=msg.unified_diff if edit == "unified_diff" else None,
        search_replace=(
            [
                m.SearchReplaceBlock(search=b.search, replace=b.replace)
                for b in msg.search_replace.blocks
            ]
            if edit == "search_replace"
            else None
        ),
        full_source=msg.full_source if edit == "full_source" else None,
        request_id=msg.request_id or None,
    )


def propose_edit_result_to_proto(result: m.ProposeEditResult) -> api.ProposeEditResponse:
    return api.ProposeEditResponse(
        revision=revision_to_proto(result.revision),
        proposal_id=result.proposal_id,
        already_exists=result.already_exists,
        rebased=result.rebased,
        existing_run_ids=result.existing_run_ids,
        equivalent_to=result.equivalent_to,
    )


def _struct(value: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    msg = struct_pb2.Struct()
    # to_builtins first: details may hold tuples or structs that ParseDict refuses.
    json_format.ParseDict(msgspec.to_builtins(value), msg)
    return msg


def proposal_to_proto(proposal: m.Proposal) -> pb.Proposal:
    return pb.Proposal(
        name=f"proposals/{proposal.id}",
        id=proposal.id,
        track_id=proposal.track_id,
        author_agent_id=proposal.author_agent_id,
        base_revision=proposal.base_revision,
        head_revision_at_proposal=proposal.head_revision_at_proposal,
        format=enum_to_proto(proposal.format, m.PatchFormat),
        patch=proposal.patch,
        description=proposal.description,
        outcome=enum_to_proto(proposal.outcome, m.ProposalOutcome),
        revision_id=proposal.revision_id,
        rejection_message=proposal.rejection_message,
        rejection_details=_struct(proposal.rejection_details),
        create_time=timestamp(proposal.create_time),
        request_id=proposal.request_id,
    )


# --- Runs ----------------------------------------------------------------------

_OVERHEAD_FIELDS = (
    "queue_wait_seconds",
    "startup_seconds",
    "training_seconds",
    "eval_seconds",
    "upload_seconds",
)


_REPORTED_FIELDS = tuple(m.ReportedFigures.__struct_fields__)


def summary_to_proto(summary: m.RunSummary) -> pb.RunSummary:
    return pb.RunSummary(
        val_bpb=summary.val_bpb,
        training_seconds=summary.training_seconds,
        total_seconds=summary.total_seconds,
        total_tokens=summary.total_tokens,
        num_steps=summary.num_steps,
        num_params=summary.num_params,
        peak_memory_mb=summary.peak_memory_mb,
        mfu_percent=summary.mfu_percent,
        device_name=summary.device_name,
        sandbox=summary.sandbox,
        overhead=pb.OverheadBreakdown(
            **{f: getattr(summary.overhead, f) for f in _OVERHEAD_FIELDS}
        ),
        artifacts={
            name: pb.ArtifactRef(key=ref.key, sha256=ref.sha256, size_bytes=ref.size_bytes)
            for name, ref in summary.artifacts.items()
        },
        compute_seconds=summary.compute_seconds,
        reported=pb.ReportedFigures(**{f: getattr(summary.reported, f) for f in _REPORTED_FIELDS}),
        speed_probe=summary.speed_probe,
    )


def run_to_proto(run: m.Run) -> pb.Run:
    return pb.Run(
        name=f"runs/{run.id}",
        id=run.id,
        track_id=run.track_id,
        revision_id=run.revision_id,
        harness_id=run.harness_id,
        agent_id=run.agent_id,
        purpose=enum_to_proto(run.purpose, m.RunPurpose),
        seed=run.seed,
        device_class=run.device_class,
        time_budget_s=run.time_budget_s,
        state=enum_to_proto(run.state, m.RunState),
        failure_reason=enum_to_proto(run.failure_reason, m.FailureReason),
        failure_message=run.failure_message,
        summary=summary_to_proto(run.summary) if run.summary is not None else None,
        worker_id=run.worker_id,
        attempt=run.attempt,
        create_time=timestamp(run.create_time),
        start_time=timestamp(run.start_time),
        end_time=timestamp(run.end_time),
        heartbeat_time=timestamp(run.heartbeat_time),
        request_id=run.request_id,
        evaluation_id=run.evaluation_id,
        token_budget=run.token_budget,
    )


def launch_run_request(msg: api.LaunchRunRequest) -> m.LaunchRunRequest:
    revision = optional(msg, "revision_id")
    return m.LaunchRunRequest(
        track_id=strip_collection(msg.track_id, "tracks"),
        revision_id=strip_collection(revision, "revisions") if revision is not None else None,
        seed=optional(msg, "seed"),
        request_id=msg.request_id or None,
    )


def metric_point_to_proto(point: m.MetricPoint) -> pb.MetricPoint:
    return pb.MetricPoint(
        step=point.step, name=point.name, value=point.value, wall_seconds=point.wall_seconds
    )


def metric_series_to_proto(series: m.MetricSeries) -> api.GetMetricsResponse:
    return api.GetMetricsResponse(
        run_id=series.run_id,
        points=[metric_point_to_proto(p) for p in series.points],
        next_since_step=series.next_since_step,
    )


def run_logs_to_proto(logs: m.RunLogs) -> api.GetRunLogsResponse:
    return api.GetRunLogsResponse(run_id=logs.run_id, text=logs.text, truncated=logs.truncated)


def run_event_to_proto(event: m.RunEvent) -> pb.RunEvent:
    """The domain keeps event payloads as JSON dicts (they are stored); the proto
    types them: STATE carries the Run, METRICS the points, LOG the text."""
    msg = pb.RunEvent(
        run_id=event.run_id,
        seq=event.seq,
        type=enum_to_proto(event.type, m.RunEventType),
        time=timestamp(event.time),
    )
    if event.type is m.RunEventType.STATE:
        msg.run.CopyFrom(run_to_proto(msgspec.convert(event.data, m.Run)))
    elif event.type is m.RunEventType.METRICS:
        points = msgspec.convert(event.data.get("points", []), list[m.MetricPoint])
        msg.metrics.points.extend(metric_point_to_proto(p) for p in points)
    else:
        msg.log.text = str(event.data.get("text", ""))
    return msg


# --- Evaluation and decisions --------------------------------------------------


def sample_stats_to_proto(stats: m.SampleStats) -> pb.SampleStats:
    return pb.SampleStats(
        revision_id=stats.revision_id,
        run_ids=stats.run_ids,
        values=stats.values,
        n=stats.n,
        mean=stats.mean,
        std=stats.std,
    )


def pair_to_proto(pair: m.EvalPair) -> pb.EvalPair:
    return pb.EvalPair(
        seed=pair.seed,
        candidate_run_id=pair.candidate_run_id,
        reference_run_id=pair.reference_run_id,
        reused_reference=pair.reused_reference,
        difference=pair.difference,
        candidate_speed=pair.candidate_speed,
        reference_speed=pair.reference_speed,
    )


_SPEED_FIELDS = ("pairs_with_probe", "tolerance", "confounded")
_SPEED_OPTIONAL = (
    "speed_ratio",
    "ratio_noise",
    "candidate_steps",
    "reference_steps",
    "candidate_tokens",
    "reference_tokens",
)


def speed_to_proto(speed: m.SpeedCheck | None) -> pb.SpeedCheck | None:
    if speed is None:
        return None
    return pb.SpeedCheck(**{f: getattr(speed, f) for f in _SPEED_FIELDS + _SPEED_OPTIONAL})


def evaluation_to_proto(evaluation: m.Evaluation) -> pb.Evaluation:
    return pb.Evaluation(
        name=f"runs/{evaluation.run_id}/evaluations/{evaluation.id}",
        id=evaluation.id,
        run_id=evaluation.run_id,
        track_id=evaluation.track_id,
        state=enum_to_proto(evaluation.state, m.EvaluationState),
        candidate=sample_stats_to_proto(evaluation.candidate),
        reference=sample_stats_to_proto(evaluation.reference),
        delta=evaluation.delta,
        noise_std=evaluation.noise_std,
        z_score=evaluation.z_score,
        verdict=enum_to_proto(evaluation.verdict, m.Verdict),
        diff_stats=diff_stats_to_proto(evaluation.diff_stats),
        replicate_run_ids=evaluation.replicate_run_ids,
        promoted=evaluation.promoted,
        failure_message=evaluation.failure_message,
        create_time=timestamp(evaluation.create_time),
        finish_time=timestamp(evaluation.finish_time),
        request_id=evaluation.request_id,
        agent_id=evaluation.agent_id,
        method=evaluation.method,
        pairs=[pair_to_proto(p) for p in evaluation.pairs],
        pairs_used=evaluation.pairs_used,
        max_pairs=evaluation.max_pairs,
        pairs_per_round=evaluation.pairs_per_round,
        e_value=evaluation.e_value,
        threshold=evaluation.threshold,
        level=evaluation.level,
        fdr_test_index=evaluation.fdr_test_index,
        interval_low=evaluation.interval_low,
        interval_high=evaluation.interval_high,
        speed=speed_to_proto(evaluation.speed),
        equivalent_to=evaluation.equivalent_to,
        reason=evaluation.reason,
        version=evaluation.version,
        sandbox=evaluation.sandbox,
    )


def evaluate_request(msg: api.EvaluateRequest) -> m.EvaluateRequest:
    reference = optional(msg, "reference_run_id")
    return m.EvaluateRequest(
        reference_run_id=strip_collection(reference, "runs") if reference is not None else None,
        replicates=optional(msg, "replicates"),
        request_id=msg.request_id or None,
        max_pairs=optional(msg, "max_pairs"),
    )


def promote_request(msg: api.PromoteRunRequest) -> m.PromoteRequest:
    expected = optional(msg, "expected_head_revision")
    return m.PromoteRequest(
        run_id=strip_collection(msg.run_id, "runs"),
        expected_head_revision=(
            strip_collection(expected, "revisions") if expected is not None else None
        ),
        evaluation_id=optional(msg, "evaluation_id"),
        force=msg.force,
        reason=msg.reason,
    )


_LEADERBOARD_FIELDS = (
    "rank",
    "revision_id",
    "author_agent_id",
    "description",
    "best_run_id",
    "best_value",
    "mean_value",
    "runs",
    "is_head",
    "kept",
    "sandbox",
)


def leaderboard_to_proto(board: m.Leaderboard) -> api.GetLeaderboardResponse:
    return api.GetLeaderboardResponse(
        track_id=board.track_id,
        metric=board.metric,
        entries=[
            pb.LeaderboardEntry(**{f: getattr(e, f) for f in _LEADERBOARD_FIELDS})
            for e in board.entries
        ],
    )
