"""The domain core: every capability of SPEC §2 exactly once.

`Loopy` is the facade transports (HTTP, gRPC, the CLI) and workers call; the
rules live in one module per resource, each a set of functions over one
`Context` (service.domain.context): agents, harnesses, tracks, revisions, runs,
evaluations and rounds, promotion, reports and the worker protocol, over the
shared limits, idempotency and run lifecycle.

Transports resolve the caller with `authenticator` (service.domain.auth: one
key cache for every transport), then call one method here with the resulting
`Principal`. Methods are synchronous (SQL stores are synchronous); transports
run them in a thread. `watch_run` returns an async iterator (it polls the event
log).

Worker-facing methods (claim_run, heartbeat, record_metrics, complete_run,
reap_lost_runs) take no principal: workers are trusted and hold their own store
credentials (SPEC §7).

Decisions recorded here (the contract transports and agents rely on):

- Roles: only admins create agents, harnesses and tracks. Research is
  collaborative: every agent reads every track, revision, run, metric and log,
  proposes edits, launches runs, evaluates and promotes on every track. Only a
  run's owner (or an admin) may cancel it; an agent reads only its own Agent.
- Idempotency: creates with a `request_id` are remembered per (agent, kind).
  A retry returns the first result, whatever its body (the request id, not the
  body, names the operation). Runs, tracks and evaluations reserve their id
  before anything is created, so a retry never dispatches a second run.
- Edits always land on the head: an edit made on any other base (an older head,
  or a sibling revision) is three-way merged onto the head, and the head becomes
  the new revision's parent.
- Promotion moves the head on evidence only: a DONE evaluation with verdict KEEP
  whose reference is the current head (the CAS expects that reference), or an
  admin's `force` with a reason. Every head change is recorded (HeadChange) in the
  same write as the CAS. Promoting the revision that already is the head returns
  the track unchanged (promotion is idempotent).
- Evaluations are paired and sequential (service.domain.decisions): rounds of
  same-seed pairs until the e-value is decisive; each draws its level from the
  track's LORD++ budget when it starts; code equivalent to the reference (or to a
  revision already judged against it) is answered at once, without a run.
- Compute quota: a run is charged its summary's `compute_seconds` when it completes
  (the supervisor's training time, or the wall time of a run it killed); a
  cancelled running run is charged its wall time so far (capped at the budget).
- Paging: page_size 0 or None means the default; above the maximum it is capped
  (AIP-158); negative is INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from service.domain import (
    agents,
    evaluations,
    harnesses,
    promotion,
    reports,
    revisions,
    runs,
    tracks,
    worker_protocol,
)
from service.domain.auth import Authenticator
from service.domain.context import Context, DomainSettings
from service.domain.models import (
    Agent,
    CreatedAgent,
    DecisionPolicy,
    EvaluateRequest,
    Evaluation,
    Harness,
    HeadChange,
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
    Run,
    RunAssignment,
    RunEvent,
    RunLogs,
    RunOutcome,
    RunState,
    Track,
)
from service.domain.ports import ArtifactStore, Dispatcher, MetadataStore
from service.domain.requests import CreateAgentRequest, CreateHarnessRequest, CreateTrackRequest

# Imported from here by transports, tests and benches.
__all__ = [
    "CreateAgentRequest",
    "CreateHarnessRequest",
    "CreateTrackRequest",
    "DecisionPolicy",
    "DomainSettings",
    "LaunchRunRequest",
    "Loopy",
]


class Loopy:
    def __init__(
        self,
        meta: MetadataStore,
        artifacts: ArtifactStore,
        dispatcher: Dispatcher,
        settings: DomainSettings | None = None,
    ) -> None:
        settings = settings or DomainSettings()
        self._ctx = Context(
            meta=meta,
            artifacts=artifacts,
            dispatcher=dispatcher,
            settings=settings,
            authenticator=Authenticator(meta, ttl_s=settings.auth_cache_s),
        )

    @property
    def ctx(self) -> Context:
        return self._ctx

    @property
    def meta(self) -> MetadataStore:
        return self._ctx.meta

    @property
    def artifacts(self) -> ArtifactStore:
        return self._ctx.artifacts

    @property
    def dispatcher(self) -> Dispatcher:
        return self._ctx.dispatcher

    @property
    def settings(self) -> DomainSettings:
        return self._ctx.settings

    @property
    def authenticator(self) -> Authenticator:
        """The one key cache every transport shares (its TTL is the revocation delay)."""
        return self._ctx.authenticator

    def authenticate(self, api_key: str | None) -> Principal:
        """The caller holding `api_key` (or `Bearer <key>`); Unauthenticated when
        missing or unknown."""
        return self._ctx.authenticator.authenticate(api_key)

    def run_ids_of_revision(self, revision_id: str) -> list[str]:
        return self._ctx.run_ids_of_revision(revision_id)

    def bootstrap_admin(self, name: str = "admin") -> CreatedAgent:
        return agents.bootstrap_admin(self._ctx, name)

    def create_agent(self, principal: Principal, req: CreateAgentRequest) -> CreatedAgent:
        return agents.create_agent(self._ctx, principal, req)

    def get_agent(self, principal: Principal, agent_id: str) -> Agent:
        return agents.get_agent(self._ctx, principal, agent_id)

    def create_harness(self, principal: Principal, req: CreateHarnessRequest) -> Harness:
        return harnesses.create_harness(self._ctx, principal, req)

    def get_harness(self, principal: Principal, harness_id: str) -> Harness:
        return harnesses.get_harness(self._ctx, principal, harness_id)

    def list_harnesses(
        self, principal: Principal, page_size: int | None, page_token: str
    ) -> Page[Harness]:
        return harnesses.list_harnesses(self._ctx, principal, page_size, page_token)

    def create_track(self, principal: Principal, req: CreateTrackRequest) -> Track:
        return tracks.create_track(self._ctx, principal, req)

    def get_track(self, principal: Principal, track_id: str) -> Track:
        return tracks.get_track(self._ctx, principal, track_id)

    def list_tracks(
        self, principal: Principal, page_size: int | None, page_token: str
    ) -> Page[Track]:
        return tracks.list_tracks(self._ctx, principal, page_size, page_token)

    def get_program(self, principal: Principal, track_id: str) -> Program:
        return tracks.get_program(self._ctx, principal, track_id)

    def propose_edit(
        self, principal: Principal, track_id: str, req: ProposeEditRequest
    ) -> ProposeEditResult:
        return revisions.propose_edit(self._ctx, principal, track_id, req)

    def get_revision(self, principal: Principal, revision_id: str) -> RevisionView:
        return revisions.get_revision(self._ctx, principal, revision_id)

    def list_revisions(
        self,
        principal: Principal,
        track_id: str,
        author_agent_id: str | None,
        page_size: int | None,
        page_token: str,
    ) -> Page[Revision]:
        return revisions.list_revisions(
            self._ctx, principal, track_id, author_agent_id, page_size, page_token
        )

    def list_proposals(
        self,
        principal: Principal,
        track_id: str,
        author_agent_id: str | None,
        page_size: int | None,
        page_token: str,
    ) -> Page[Proposal]:
        return revisions.list_proposals(
            self._ctx, principal, track_id, author_agent_id, page_size, page_token
        )

    def launch_run(self, principal: Principal, req: LaunchRunRequest) -> Run:
        return runs.launch_run(self._ctx, principal, req)

    def get_run(self, principal: Principal, run_id: str) -> Run:
        return runs.get_run(self._ctx, principal, run_id)

    def list_runs(
        self,
        principal: Principal,
        track_id: str,
        state: RunState | None,
        page_size: int | None,
        page_token: str,
    ) -> Page[Run]:
        return runs.list_runs(self._ctx, principal, track_id, state, page_size, page_token)

    def cancel_run(self, principal: Principal, run_id: str) -> Run:
        return runs.cancel_run(self._ctx, principal, run_id)

    def watch_run(
        self, principal: Principal, run_id: str, after_seq: int = 0
    ) -> AsyncIterator[RunEvent]:
        return runs.watch_run(self._ctx, principal, run_id, after_seq)

    def get_metrics(
        self,
        principal: Principal,
        run_id: str,
        since_step: int | None,
        names: list[str] | None,
        limit: int | None = None,
    ) -> MetricSeries:
        return runs.get_metrics(self._ctx, principal, run_id, since_step, names, limit)

    def get_run_logs(
        self, principal: Principal, run_id: str, tail_bytes: int | None = None
    ) -> RunLogs:
        return runs.get_run_logs(self._ctx, principal, run_id, tail_bytes)

    def get_artifact_url(self, principal: Principal, run_id: str, name: str) -> str | None:
        return runs.get_artifact_url(self._ctx, principal, run_id, name)

    def open_artifact(self, principal: Principal, run_id: str, name: str) -> tuple[Any, int, str]:
        return runs.open_artifact(self._ctx, principal, run_id, name)

    def evaluate(self, principal: Principal, run_id: str, req: EvaluateRequest) -> Evaluation:
        return evaluations.evaluate(self._ctx, principal, run_id, req)

    def get_evaluation(self, principal: Principal, run_id: str, evaluation_id: str) -> Evaluation:
        return evaluations.get_evaluation(self._ctx, principal, run_id, evaluation_id)

    def promote_run(self, principal: Principal, track_id: str, req: PromoteRequest) -> Track:
        return promotion.promote_run(self._ctx, principal, track_id, req)

    def list_head_changes(
        self, principal: Principal, track_id: str, page_size: int | None, page_token: str
    ) -> Page[HeadChange]:
        return promotion.list_head_changes(self._ctx, principal, track_id, page_size, page_token)

    def get_leaderboard(
        self, principal: Principal, track_id: str, limit: int | None = None
    ) -> Leaderboard:
        return reports.get_leaderboard(self._ctx, principal, track_id, limit)

    def results_tsv(self, principal: Principal, track_id: str) -> str:
        return reports.results_tsv(self._ctx, principal, track_id)

    def progress_png(self, principal: Principal, track_id: str) -> bytes:
        return reports.progress_png(self._ctx, principal, track_id)

    def claim_run(self, run_id: str, worker_id: str) -> RunAssignment | None:
        return worker_protocol.claim_run(self._ctx, run_id, worker_id)

    def heartbeat(self, run_id: str, worker_id: str) -> bool:
        return worker_protocol.heartbeat(self._ctx, run_id, worker_id)

    def record_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        return worker_protocol.record_metrics(self._ctx, run_id, points)

    def record_log(self, run_id: str, text: str) -> None:
        return worker_protocol.record_log(self._ctx, run_id, text)

    def complete_run(self, run_id: str, worker_id: str, outcome: RunOutcome) -> Run | None:
        return worker_protocol.complete_run(self._ctx, run_id, worker_id, outcome)

    def release_run(self, run_id: str, worker_id: str, reason: str) -> Run | None:
        return worker_protocol.release_run(self._ctx, run_id, worker_id, reason)

    def requeue_unclaimed_runs(self) -> list[Run]:
        return worker_protocol.requeue_unclaimed_runs(self._ctx)

    def readiness(self) -> dict[str, bool]:
        return worker_protocol.readiness(self._ctx)

    def reap_lost_runs(self) -> list[Run]:
        return worker_protocol.reap_lost_runs(self._ctx)
