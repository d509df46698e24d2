"""The interfaces the domain needs from the outside world.

Implementations live in `service/stores/` (metadata, artifacts) and
`service/worker/` (dispatcher). The domain imports only these abstract classes.

Paging: list methods take an opaque `page_token` ("" = first page) and return
(items, next_page_token). Stores raise `InvalidArgument` for a token they did
not issue. Stores raise `NotFound` only where the docstring says so; `get_*`
methods return None for a missing row so the domain words the error.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from service.domain.models import (
    Agent,
    ArtifactRef,
    Evaluation,
    Harness,
    HeadChange,
    MetricPoint,
    Proposal,
    Revision,
    Run,
    RunEvent,
    RunEventType,
    RunState,
    Track,
)


@dataclass
class DurationHistogram:
    """Cumulative counts of values <= each bound (Prometheus histogram buckets)."""

    bounds: Sequence[float]
    counts: list[int]
    count: int = 0
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1


@dataclass
class OperationalStats:
    """What /metrics reports about the work itself, read from the store at scrape time
    (so every API replica and every worker machine is counted, whoever did the work)."""

    runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, device class)
    # Finished runs' trusted total seconds (summary.total_seconds), by final state.
    run_seconds: dict[str, DurationHistogram] = field(default_factory=dict)
    worker_heartbeats: dict[str, float] = field(default_factory=dict)  # worker -> unix seconds
    evaluations: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, verdict)


class MetadataStore(abc.ABC):
    def operational_stats(
        self, duration_bounds: Sequence[float], heartbeat_since: datetime
    ) -> OperationalStats:
        """Counts for monitoring: runs by state and device class, finished runs'
        durations, each worker's latest heartbeat after `heartbeat_since`, evaluations
        by state and verdict. Stores override this; the default reports nothing."""
        return OperationalStats()

    """Durable metadata: every write is atomic; conditional writes say if they won."""

    # --- lifecycle
    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def ping(self) -> bool:
        """True when the store answers (used by /readyz)."""

    # --- agents and keys
    @abc.abstractmethod
    def create_agent(self, agent: Agent, key_hash: str) -> None: ...

    @abc.abstractmethod
    def get_agent(self, agent_id: str) -> Agent | None: ...

    @abc.abstractmethod
    def get_agent_by_key_hash(self, key_hash: str) -> Agent | None: ...

    @abc.abstractmethod
    def list_agents(self, page_size: int, page_token: str) -> tuple[list[Agent], str]: ...

    @abc.abstractmethod
    def add_compute_seconds(self, agent_id: str, seconds: float) -> None: ...

    # --- idempotency: (agent_id, kind, request_id) -> resource id
    @abc.abstractmethod
    def get_request(self, agent_id: str, kind: str, request_id: str) -> str | None: ...

    @abc.abstractmethod
    def put_request(self, agent_id: str, kind: str, request_id: str, resource_id: str) -> str:
        """Record the mapping; if another call won the race, return its resource id."""

    # --- harnesses
    @abc.abstractmethod
    def put_harness(self, harness: Harness) -> bool:
        """Insert; False when a harness with that id already exists (nothing changed)."""

    @abc.abstractmethod
    def get_harness(self, harness_id: str) -> Harness | None: ...

    @abc.abstractmethod
    def list_harnesses(self, page_size: int, page_token: str) -> tuple[list[Harness], str]: ...

    # --- tracks
    @abc.abstractmethod
    def create_track(self, track: Track) -> None:
        """Raises AlreadyExists when the id is taken."""

    @abc.abstractmethod
    def get_track(self, track_id: str) -> Track | None: ...

    @abc.abstractmethod
    def list_tracks(self, page_size: int, page_token: str) -> tuple[list[Track], str]: ...

    @abc.abstractmethod
    def update_track_noise(self, track_id: str, noise_std: float | None, samples: int) -> None: ...

    @abc.abstractmethod
    def compare_and_set_head(
        self,
        track_id: str,
        expected_head: str,
        new_head: str,
        new_head_run_id: str | None,
        *,
        change: HeadChange | None = None,
    ) -> Track | None:
        """Atomically move the head if it still equals `expected_head`.

        Returns the updated track, or None when the head had moved (caller raises Conflict).
        Bumps `head_version` and `update_time`. `change`, when given, is recorded in the
        same transaction with `head_version` set to the new version.
        """

    @abc.abstractmethod
    def put_head_change(self, change: HeadChange) -> None:
        """Record a head change as given (the track's initial head)."""

    @abc.abstractmethod
    def list_head_changes(
        self, track_id: str, page_size: int, page_token: str
    ) -> tuple[list[HeadChange], str]:
        """Oldest first."""

    @abc.abstractmethod
    def allocate_fdr_test(self, track_id: str) -> int:
        """Atomically count one more test against the track's error budget; returns its
        1-based index (Track.fdr_tests after the increment)."""

    # --- revisions and proposals
    @abc.abstractmethod
    def put_revision(self, revision: Revision) -> bool:
        """Insert; False when that sha already exists (the stored one is kept unchanged)."""

    @abc.abstractmethod
    def get_revision(self, revision_id: str) -> Revision | None: ...

    @abc.abstractmethod
    def list_revisions(
        self, track_id: str, author_agent_id: str | None, page_size: int, page_token: str
    ) -> tuple[list[Revision], str]:
        """Oldest first."""

    @abc.abstractmethod
    def list_children(self, revision_id: str) -> list[str]: ...

    @abc.abstractmethod
    def put_proposal(self, proposal: Proposal) -> None: ...

    @abc.abstractmethod
    def get_proposal(self, proposal_id: str) -> Proposal | None: ...

    @abc.abstractmethod
    def list_proposals(
        self, track_id: str, author_agent_id: str | None, page_size: int, page_token: str
    ) -> tuple[list[Proposal], str]: ...

    # --- runs
    @abc.abstractmethod
    def create_run(self, run: Run) -> None: ...

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run | None: ...

    @abc.abstractmethod
    def list_runs(
        self,
        *,
        track_id: str | None = None,
        revision_id: str | None = None,
        agent_id: str | None = None,
        states: Iterable[RunState] | None = None,
        evaluation_id: str | None = None,
        page_size: int = 100,
        page_token: str = "",
    ) -> tuple[list[Run], str]:
        """Newest first."""

    @abc.abstractmethod
    def count_active_runs(self, agent_id: str) -> int:
        """Runs of the agent in QUEUED or RUNNING."""

    @abc.abstractmethod
    def transition_run(self, run_id: str, allowed_from: Iterable[RunState], run: Run) -> bool:
        """Replace the stored run by `run` only if its current state is in `allowed_from`.

        The conditional update is the run state machine's guard against races
        (two workers, cancel vs finish). Returns whether it was applied.
        """

    @abc.abstractmethod
    def touch_heartbeat(self, run_id: str, worker_id: str, when: datetime) -> bool:
        """Set heartbeat_time if the run is RUNNING on that worker; False otherwise."""

    @abc.abstractmethod
    def list_stale_runs(self, older_than: datetime) -> list[Run]:
        """RUNNING runs whose heartbeat (or start) is older than `older_than`."""

    @abc.abstractmethod
    def touch_queued(self, run_id: str, when: datetime) -> bool:
        """Record that a QUEUED run was just published; False when it is not QUEUED."""

    @abc.abstractmethod
    def list_unclaimed_runs(self, published_before: datetime) -> list[Run]:
        """QUEUED runs last published before `published_before` (or never published)."""

    # --- metrics and events
    @abc.abstractmethod
    def append_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        """Append points; a (step, name) already stored is overwritten (redelivery-safe)."""

    @abc.abstractmethod
    def get_metrics(
        self, run_id: str, since_step: int | None, names: list[str] | None, limit: int
    ) -> list[MetricPoint]:
        """Points with step >= since_step, ordered by (step, name); one indexed query."""

    @abc.abstractmethod
    def append_event(self, run_id: str, type: RunEventType, data: dict, when: datetime) -> RunEvent:
        """Append with the next per-run sequence number (1, 2, ...)."""

    @abc.abstractmethod
    def list_events(self, run_id: str, after_seq: int, limit: int) -> list[RunEvent]: ...

    # --- evaluations
    @abc.abstractmethod
    def put_evaluation(self, evaluation: Evaluation) -> None:
        """Insert or replace by id."""

    @abc.abstractmethod
    def get_evaluation(self, evaluation_id: str) -> Evaluation | None: ...

    @abc.abstractmethod
    def list_pending_evaluations(self, track_id: str | None = None) -> list[Evaluation]: ...

    @abc.abstractmethod
    def list_evaluations(self, track_id: str) -> list[Evaluation]:
        """Every evaluation of the track, oldest first."""

    @abc.abstractmethod
    def replace_evaluation(self, evaluation: Evaluation, expected_version: int) -> bool:
        """Store `evaluation` with version expected_version + 1 only if the stored one still
        has `expected_version`; False when another writer got there first."""


class ArtifactStore(abc.ABC):
    """Immutable blobs addressed by key, sha256 recorded on write and checked on read."""

    @abc.abstractmethod
    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> ArtifactRef:
        """Stream `stream` to `key` (never whole in memory); returns its sha256 and size."""

    def put_bytes(self, key: str, data: bytes) -> ArtifactRef:
        import io

        return self.put(key, io.BytesIO(data), len(data))

    @abc.abstractmethod
    def open(self, key: str) -> Iterator[bytes]:
        """Yield the object's bytes in chunks; raises IntegrityError (from this module)
        at the end when the sha256 does not match the recorded one, NotFound when absent."""

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.open(key))

    @abc.abstractmethod
    def stat(self, key: str) -> ArtifactRef | None: ...

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def list(self, prefix: str) -> list[ArtifactRef]: ...

    @abc.abstractmethod
    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        """A URL an agent can GET without credentials; None when the store cannot make one
        (the local directory: the API then serves the bytes itself)."""

    @abc.abstractmethod
    def download_to(self, key: str, path: str) -> ArtifactRef:
        """Stream to a file, verifying the sha256."""

    def ping(self) -> bool:
        """Whether the store answers (readiness); stores without a server always do."""
        return True


class ArtifactIntegrityError(Exception):
    """An object's bytes do not match the sha256 recorded when it was written."""


class Dispatcher(abc.ABC):
    """Hands runs to execution. The Celery implementation lives in service/worker."""

    @abc.abstractmethod
    def submit(self, run: Run) -> None:
        """Queue the run on its device class; must not block on execution."""

    @abc.abstractmethod
    def cancel(self, run: Run) -> None:
        """Revoke a queued run / ask the worker to kill a running child."""

    def ping(self) -> bool:
        """Whether the broker accepts connections (readiness)."""
        return True
