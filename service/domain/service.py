"""The domain core: every capability of SPEC §2 exactly once.

Transports (HTTP, gRPC, the CLI) authenticate a caller with `authenticate`,
then call one method here with the resulting `Principal`. Methods are
synchronous (SQL stores are synchronous); transports run them in a thread.
`watch_run` is the one async method (it polls the event log).

Worker-facing methods (claim_run, heartbeat, record_metrics, complete_run,
reap_lost_runs) take no principal: workers are trusted and hold their own store
credentials (SPEC §7).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from service.domain.models import (
    Agent,
    AgentQuota,
    CreatedAgent,
    EvaluateRequest,
    Evaluation,
    Harness,
    LaunchRunRequest,
    Leaderboard,
    MetricPoint,
    MetricSeries,
    Page,
    Principal,
    Program,
    PromoteRequest,
    Proposal,
    ProposeEditRequest,
    ProposeEditResult,
    Revision,
    RevisionView,
    Role,
    Run,
    RunAssignment,
    RunEvent,
    RunLogs,
    RunOutcome,
    RunState,
    Track,
    DecisionPolicy,
)
from service.domain.ports import ArtifactStore, Dispatcher, MetadataStore


class DomainSettings(msgspec.Struct, kw_only=True):
    """The knobs the domain itself reads (the full settings object maps onto this)."""

    default_time_budget_s: float = 300.0
    max_source_bytes: int = 200_000
    max_patch_bytes: int = 200_000
    max_description_chars: int = 2_000
    max_page_size: int = 1_000
    default_page_size: int = 50
    max_metric_points: int = 10_000  # per GetMetrics call
    heartbeat_timeout_s: float = 60.0
    default_allowed_imports: tuple[str, ...] = (
        "torch", "math", "numpy", "dataclasses", "functools", "itertools",
        "collections", "typing", "time", "random", "contextlib", "enum",
        "abc", "copy", "operator", "statistics", "warnings", "__future__",
    )
    default_agent_quota: AgentQuota = msgspec.field(default_factory=AgentQuota)


class CreateTrackRequest(msgspec.Struct, kw_only=True):
    track_id: str  # [a-z0-9-]{3,63}
    harness_id: str
    display_name: str = ""
    description: str = ""
    program: str | None = None  # default: a generated research program
    baseline_source: str | None = None  # default: the trainer's baseline train.py
    device_class: str = "cpu"
    time_budget_s: float | None = None  # default: the harness budget
    policy: DecisionPolicy = msgspec.field(default_factory=DecisionPolicy)
    allowed_imports: list[str] | None = None  # default: DomainSettings.default_allowed_imports
    request_id: str | None = None


class CreateAgentRequest(msgspec.Struct, kw_only=True):
    name: str
    role: Role = Role.AGENT
    quota: AgentQuota | None = None


class CreateHarnessRequest(msgspec.Struct, kw_only=True):
    """Register a prepared harness directory readable by the server (admin only).

    The files are copied into the artifact store and verified against the manifest.
    `demo=True` builds (or reuses) the demo harness instead of reading `path`.
    """

    path: str | None = None
    demo: bool = False
    description: str = ""
    request_id: str | None = None


class Loopy:
    def __init__(
        self,
        meta: MetadataStore,
        artifacts: ArtifactStore,
        dispatcher: Dispatcher,
        settings: DomainSettings | None = None,
    ) -> None:
        self.meta = meta
        self.artifacts = artifacts
        self.dispatcher = dispatcher
        self.settings = settings or DomainSettings()

    # --- auth and agents ----------------------------------------------------
    def authenticate(self, api_key: str | None) -> Principal:
        """Unauthenticated when missing or unknown."""
        raise NotImplementedError

    def bootstrap_admin(self, name: str = "admin") -> CreatedAgent:
        """Create an admin agent without a caller (CLI `loopy keys create`, `loopy up`)."""
        raise NotImplementedError

    def create_agent(self, principal: Principal, req: CreateAgentRequest) -> CreatedAgent:
        """Admin only."""
        raise NotImplementedError

    def get_agent(self, principal: Principal, agent_id: str) -> Agent:
        """An agent may read itself; admins anyone."""
        raise NotImplementedError

    # --- harnesses ----------------------------------------------------------
    def create_harness(self, principal: Principal, req: CreateHarnessRequest) -> Harness:
        raise NotImplementedError

    def get_harness(self, principal: Principal, harness_id: str) -> Harness:
        raise NotImplementedError

    def list_harnesses(self, principal: Principal, page_size: int | None, page_token: str) -> Page[Harness]:
        raise NotImplementedError

    # --- tracks -------------------------------------------------------------
    def create_track(self, principal: Principal, req: CreateTrackRequest) -> Track:
        """Admin only. Stores the baseline revision and launches the calibration runs."""
        raise NotImplementedError

    def get_track(self, principal: Principal, track_id: str) -> Track:
        raise NotImplementedError

    def list_tracks(self, principal: Principal, page_size: int | None, page_token: str) -> Page[Track]:
        raise NotImplementedError

    def get_program(self, principal: Principal, track_id: str) -> Program:
        raise NotImplementedError

    # --- revisions ----------------------------------------------------------
    def propose_edit(self, principal: Principal, track_id: str, req: ProposeEditRequest) -> ProposeEditResult:
        """Apply, validate and store (see service.domain.edits). Refusals are kept as
        proposals and raised as InvalidArgument with a machine-readable `details`."""
        raise NotImplementedError

    def get_revision(self, principal: Principal, revision_id: str) -> RevisionView:
        raise NotImplementedError

    def list_revisions(
        self, principal: Principal, track_id: str, author_agent_id: str | None,
        page_size: int | None, page_token: str,
    ) -> Page[Revision]:
        raise NotImplementedError

    def list_proposals(
        self, principal: Principal, track_id: str, author_agent_id: str | None,
        page_size: int | None, page_token: str,
    ) -> Page[Proposal]:
        raise NotImplementedError

    # --- runs ---------------------------------------------------------------
    def launch_run(self, principal: Principal, req: LaunchRunRequest) -> Run:
        """Quota-checked (RESOURCE_EXHAUSTED with retry_after_s); idempotent by request_id."""
        raise NotImplementedError

    def get_run(self, principal: Principal, run_id: str) -> Run:
        raise NotImplementedError

    def list_runs(
        self, principal: Principal, track_id: str, state: RunState | None,
        page_size: int | None, page_token: str,
    ) -> Page[Run]:
        raise NotImplementedError

    def cancel_run(self, principal: Principal, run_id: str) -> Run:
        """FAILED_PRECONDITION for a run already finished. Owner or admin only."""
        raise NotImplementedError

    async def watch_run(self, principal: Principal, run_id: str, after_seq: int = 0) -> AsyncIterator[RunEvent]:
        """Events with seq > after_seq, then new ones as they happen; ends after the
        terminal STATE event."""
        raise NotImplementedError
        yield  # pragma: no cover

    def get_metrics(
        self, principal: Principal, run_id: str, since_step: int | None,
        names: list[str] | None, limit: int | None = None,
    ) -> MetricSeries:
        raise NotImplementedError

    def get_run_logs(self, principal: Principal, run_id: str, tail_bytes: int | None = None) -> RunLogs:
        raise NotImplementedError

    def get_artifact_url(self, principal: Principal, run_id: str, name: str) -> str | None:
        """Presigned URL of a run artifact ("source", "log", "checkpoint"), or None when
        the store serves bytes through the API instead (see open_artifact)."""
        raise NotImplementedError

    def open_artifact(self, principal: Principal, run_id: str, name: str) -> tuple[Any, int, str]:
        """(chunk iterator, size, sha256) of a run artifact, verified while streaming."""
        raise NotImplementedError

    # --- evaluation and decisions -------------------------------------------
    def evaluate(self, principal: Principal, run_id: str, req: EvaluateRequest) -> Evaluation:
        """Launches replicates as needed; PENDING until they finish, then DONE with a verdict."""
        raise NotImplementedError

    def get_evaluation(self, principal: Principal, run_id: str, evaluation_id: str) -> Evaluation:
        raise NotImplementedError

    def promote_run(self, principal: Principal, track_id: str, req: PromoteRequest) -> Track:
        """Compare-and-swap on the head: Conflict (with the current head in details) if it moved."""
        raise NotImplementedError

    def get_leaderboard(self, principal: Principal, track_id: str, limit: int | None = None) -> Leaderboard:
        raise NotImplementedError

    def results_tsv(self, principal: Principal, track_id: str) -> str:
        """autoresearch-style results.tsv: run, revision, val_bpb, memory, status, description."""
        raise NotImplementedError

    def progress_png(self, principal: Principal, track_id: str) -> bytes:
        """The metric of every finished run over time, the head's running best as a step line."""
        raise NotImplementedError

    # --- worker-facing ------------------------------------------------------
    def claim_run(self, run_id: str, worker_id: str) -> RunAssignment | None:
        """QUEUED -> RUNNING for this worker. None when the run is not QUEUED any more
        (cancelled, or already claimed by another delivery): the worker then does nothing."""
        raise NotImplementedError

    def heartbeat(self, run_id: str, worker_id: str) -> bool:
        """False when the run is no longer RUNNING on this worker (e.g. cancelled): stop it."""
        raise NotImplementedError

    def record_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        raise NotImplementedError

    def record_log(self, run_id: str, text: str) -> None:
        """A chunk of the child's output, as a LOG event for watchers."""
        raise NotImplementedError

    def complete_run(self, run_id: str, worker_id: str, outcome: RunOutcome) -> Run | None:
        """RUNNING -> SUCCEEDED/FAILED, charges compute seconds, advances pending
        evaluations and calibration. None when the run was already terminal."""
        raise NotImplementedError

    def reap_lost_runs(self) -> list[Run]:
        """RUNNING runs without a heartbeat for heartbeat_timeout_s: re-queued once
        (attempt 2), then FAILED / WORKER_LOST. Returns the runs changed."""
        raise NotImplementedError

    def run_ids_of_revision(self, revision_id: str) -> list[str]:
        raise NotImplementedError
