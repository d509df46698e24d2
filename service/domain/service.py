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

Each method is one use-case function bound by `use_case`: `core.get_run(p, id)`
is `runs.get_run(core.ctx, p, id)`, so its signature and docs are written once,
where its rules are. Worker-facing methods (claim_run, heartbeat, record_metrics,
complete_run, reap_lost_runs) take no principal: workers are trusted and hold their own store
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

import functools
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

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
from service.domain.models import DecisionPolicy, LaunchRunRequest, Principal
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

P = ParamSpec("P")
R = TypeVar("R")


class use_case(Generic[P, R]):  # noqa: N801 (used like a decorator, read like `def`)
    """A use-case function of the context as a method of `Loopy`: `core.get_run(p, id)`
    calls `runs.get_run(core.ctx, p, id)`, with that function's signature (and docs)."""

    def __init__(self, function: Callable[Concatenate[Context, P], R]) -> None:
        self._function = function
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    @overload
    def __get__(self, core: None, owner: type[Any]) -> use_case[P, R]: ...

    @overload
    def __get__(self, core: Loopy, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, core: Loopy | None, owner: type[Any]) -> use_case[P, R] | Callable[P, R]:
        if core is None:
            return self
        return functools.partial(self._function, core.ctx)


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

    # The context's stores and settings (a test may swap the artifact store).
    @property
    def meta(self) -> MetadataStore:
        return self._ctx.meta

    @property
    def artifacts(self) -> ArtifactStore:
        return self._ctx.artifacts

    @artifacts.setter
    def artifacts(self, artifacts: ArtifactStore) -> None:
        self._ctx.artifacts = artifacts

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

    # --- Agents ----------------------------------------------------------------

    bootstrap_admin = use_case(agents.bootstrap_admin)
    create_agent = use_case(agents.create_agent)
    get_agent = use_case(agents.get_agent)

    # --- Harnesses -------------------------------------------------------------

    create_harness = use_case(harnesses.create_harness)
    get_harness = use_case(harnesses.get_harness)
    list_harnesses = use_case(harnesses.list_harnesses)

    # --- Tracks ----------------------------------------------------------------

    create_track = use_case(tracks.create_track)
    get_track = use_case(tracks.get_track)
    list_tracks = use_case(tracks.list_tracks)
    get_program = use_case(tracks.get_program)

    # --- Revisions and proposals -----------------------------------------------

    propose_edit = use_case(revisions.propose_edit)
    get_revision = use_case(revisions.get_revision)
    list_revisions = use_case(revisions.list_revisions)
    list_proposals = use_case(revisions.list_proposals)

    # --- Runs ------------------------------------------------------------------

    launch_run = use_case(runs.launch_run)
    get_run = use_case(runs.get_run)
    list_runs = use_case(runs.list_runs)
    cancel_run = use_case(runs.cancel_run)
    watch_run = use_case(runs.watch_run)
    get_metrics = use_case(runs.get_metrics)
    get_run_logs = use_case(runs.get_run_logs)
    get_artifact_url = use_case(runs.get_artifact_url)
    open_artifact = use_case(runs.open_artifact)

    # --- Evaluations -----------------------------------------------------------

    evaluate = use_case(evaluations.evaluate)
    get_evaluation = use_case(evaluations.get_evaluation)

    # --- Promotion and head history --------------------------------------------

    promote_run = use_case(promotion.promote_run)
    list_head_changes = use_case(promotion.list_head_changes)

    # --- Leaderboard and history -----------------------------------------------

    get_leaderboard = use_case(reports.get_leaderboard)
    results_tsv = use_case(reports.results_tsv)
    progress_png = use_case(reports.progress_png)

    # --- Worker-facing (no principal: workers are trusted) ---------------------

    claim_run = use_case(worker_protocol.claim_run)
    heartbeat = use_case(worker_protocol.heartbeat)
    record_metrics = use_case(worker_protocol.record_metrics)
    record_log = use_case(worker_protocol.record_log)
    complete_run = use_case(worker_protocol.complete_run)
    release_run = use_case(worker_protocol.release_run)
    requeue_unclaimed_runs = use_case(worker_protocol.requeue_unclaimed_runs)
    readiness = use_case(worker_protocol.readiness)
    reap_lost_runs = use_case(worker_protocol.reap_lost_runs)
