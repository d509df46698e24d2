"""What every use-case of the domain works over: the stores, the dispatcher, the
settings and a little process-local state, plus the lookups all of them share.

The use-case modules (agents, harnesses, tracks, revisions, runs, evaluations,
promotion, reports, the worker protocol) are functions of a `Context`;
`service.domain.service.Loopy` is the facade transports call.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import msgspec

from service.domain.auth import Authenticator
from service.domain.errors import InvalidArgument, NotFound, PermissionDenied
from service.domain.models import (
    Agent,
    AgentQuota,
    Harness,
    Principal,
    Revision,
    Run,
    RunState,
    Track,
)
from service.domain.ports import ArtifactStore, Dispatcher, MetadataStore


class DomainSettings(msgspec.Struct, kw_only=True):
    """The knobs the domain itself reads (the full settings object maps onto this)."""

    default_time_budget_s: float = 300.0
    max_time_budget_s: float = 86_400.0
    max_source_bytes: int = 200_000
    max_patch_bytes: int = 200_000
    max_description_chars: int = 2_000
    max_page_size: int = 1_000
    default_page_size: int = 50
    max_metric_points: int = 10_000  # per GetMetrics call
    max_log_bytes: int = 1_000_000  # GetRunLogs returns at most this tail
    max_replicates: int = 20  # pairs per evaluation round
    max_pairs: int = 50  # pairs per evaluation
    max_calibration_runs: int = 20
    heartbeat_timeout_s: float = 60.0
    # A QUEUED run with no claim this long after its last publish is published again.
    requeue_after_s: float = 120.0
    ready_cache_s: float = 2.0  # how long readiness() reuses its answer
    watch_poll_s: float = 0.15  # how often watch_run looks for new events
    # How long a resolved API key is trusted without asking the store again, on every
    # transport: a key removed from the store stops working within this time.
    auth_cache_s: float = 5.0
    # Where `create_harness(demo=True)` builds the demo harness ("" = a temp dir).
    harness_build_dir: str = ""
    default_allowed_imports: tuple[str, ...] = (
        "torch",
        "math",
        "numpy",
        "dataclasses",
        "functools",
        "itertools",
        "collections",
        "typing",
        "time",
        "random",
        "contextlib",
        "enum",
        "abc",
        "copy",
        "operator",
        "statistics",
        "warnings",
        "__future__",
        "gc",  # the baseline freezes the collector after step 0 (GC pauses cost steps)
    )
    default_agent_quota: AgentQuota = msgspec.field(default_factory=AgentQuota)


@dataclass
class Context:
    meta: MetadataStore
    artifacts: ArtifactStore
    dispatcher: Dispatcher
    settings: DomainSettings
    authenticator: Authenticator
    # Serialises finishing evaluations and calibration inside this process;
    # across processes the stores' conditional writes decide.
    finish_lock: threading.RLock = field(default_factory=threading.RLock)
    # (monotonic time, answer) of the last readiness check.
    ready_cache: tuple[float, dict[str, bool]] | None = None

    # --- lookups that raise NotFound -----------------------------------------

    def track(self, track_id: str) -> Track:
        track = self.meta.get_track(track_id)
        if track is None:
            raise NotFound(f"track {track_id!r} not found", details={"track_id": track_id})
        return track

    def run(self, run_id: str) -> Run:
        run = self.meta.get_run(run_id)
        if run is None:
            raise NotFound(f"run {run_id!r} not found", details={"run_id": run_id})
        return run

    def revision(self, revision_id: str) -> Revision:
        revision = self.meta.get_revision(revision_id)
        if revision is None:
            raise NotFound(
                f"revision {revision_id!r} not found", details={"revision_id": revision_id}
            )
        return revision

    def harness(self, harness_id: str) -> Harness:
        harness = self.meta.get_harness(harness_id)
        if harness is None:
            raise NotFound(f"harness {harness_id!r} not found", details={"harness_id": harness_id})
        return harness

    def agent(self, agent_id: str) -> Agent:
        agent = self.meta.get_agent(agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id!r} not found", details={"agent_id": agent_id})
        return agent

    # --- queries ---------------------------------------------------------------

    def all_runs(self, **filters: Any) -> list[Run]:
        """Every run matching the filters, newest first (pages through the store)."""
        runs: list[Run] = []
        token = ""
        while True:
            page, token = self.meta.list_runs(page_size=1000, page_token=token, **filters)
            runs.extend(page)
            if not token:
                return runs

    def run_ids_of_revision(self, revision_id: str) -> list[str]:
        """Every run of the revision on any track, oldest first."""
        return [r.id for r in reversed(self.all_runs(revision_id=revision_id))]

    # --- caller and paging rules -------------------------------------------------

    def require_admin(self, principal: Principal, action: str) -> None:
        if not principal.is_admin:
            raise PermissionDenied(
                f"only an admin may {action}",
                details={"action": action, "agent_id": principal.agent_id, "role": principal.role},
            )

    def page_size(self, page_size: int | None) -> int:
        """0 or None means the default; above the maximum it is capped (AIP-158)."""
        if page_size is None or page_size == 0:
            return self.settings.default_page_size
        if page_size < 0:
            raise InvalidArgument(
                "page_size must not be negative",
                details={"field": "page_size", "value": page_size},
            )
        return min(page_size, self.settings.max_page_size)


def require_on_track(revision: Revision, track: Track, field: str, what: str) -> None:
    """A revision may be used on a track it was proposed on, or that starts or ends with
    it; InvalidArgument naming `field` (and `what` it is, in words) otherwise."""
    if revision.track_id == track.id or revision.id in (
        track.baseline_revision,
        track.head_revision,
    ):
        return
    raise InvalidArgument(
        f"the {what} belongs to another track",
        details={
            "field": field,
            "revision_id": revision.id,
            "revision_track_id": revision.track_id,
            "track_id": track.id,
        },
    )


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def best_run(runs: list[Run]) -> Run | None:
    """The succeeded run with the lowest finite val_bpb."""
    scored = [
        r for r in runs if r.state is RunState.SUCCEEDED and r.summary and finite(r.summary.val_bpb)
    ]
    return min(scored, key=lambda r: r.summary.val_bpb or 0.0 if r.summary else 0.0, default=None)


def to_builtins(obj: Any) -> Any:
    """JSON-ready form (RFC 3339 times, enum values) for event payloads."""
    return msgspec.to_builtins(obj)
