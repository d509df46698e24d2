"""An in-memory `MetadataStore` for domain unit tests and throwaway servers.

It keeps the contract of `service.domain.ports.MetadataStore` faithfully:
atomic conditional writes under one lock, copies in and out (a caller mutating
a returned struct never changes the store), opaque page tokens that are refused
when forged, newest-first runs and oldest-first revisions.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

import msgspec

from service.domain.errors import AlreadyExists, InvalidArgument
from service.domain.models import (
    Agent,
    Evaluation,
    EvaluationState,
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
    utcnow,
)
from service.domain.ports import DurationHistogram, MetadataStore, OperationalStats

_FINISHED = {RunState.SUCCEEDED.value, RunState.FAILED.value, RunState.CANCELLED.value}

T = TypeVar("T")

_TOKEN_PREFIX = "mem1:"


def _scope_tag(scope: str) -> str:
    # The token names the listing and its filters, so a token from one listing is
    # refused by another instead of silently paging the wrong collection.
    return hashlib.sha256(scope.encode()).hexdigest()[:12]


def _encode_token(scope: str, offset: int) -> str:
    raw = f"{_TOKEN_PREFIX}{_scope_tag(scope)}:{offset}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(scope: str, token: str) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not raw.startswith(_TOKEN_PREFIX):
            raise ValueError(raw)
        tag, _, offset_text = raw[len(_TOKEN_PREFIX) :].partition(":")
        if tag != _scope_tag(scope):
            raise ValueError(raw)
        offset = int(offset_text)
        if offset < 0:
            raise ValueError(raw)
        return offset
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            "page_token was not issued by this service",
            details={"page_token": token},
        ) from exc


def _page(items: list[T], page_size: int, page_token: str, scope: str) -> tuple[list[T], str]:
    if page_size <= 0:
        raise InvalidArgument("page_size must be positive", details={"page_size": page_size})
    start = _decode_token(scope, page_token)
    chunk = items[start : start + page_size]
    end = start + len(chunk)
    return chunk, (_encode_token(scope, end) if end < len(items) else "")


class MemoryMetadataStore(MetadataStore):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._agents: dict[str, Agent] = {}
        self._key_hashes: dict[str, str] = {}  # key hash -> agent id
        self._requests: dict[tuple[str, str, str], str] = {}
        self._harnesses: dict[str, Harness] = {}
        self._tracks: dict[str, Track] = {}
        self._revisions: dict[str, Revision] = {}
        self._proposals: dict[str, Proposal] = {}
        self._runs: dict[str, Run] = {}
        self._published: dict[str, datetime] = {}  # QUEUED run -> its last publish
        self._metrics: dict[str, dict[tuple[int, str], MetricPoint]] = {}
        self._events: dict[str, list[RunEvent]] = {}
        self._evaluations: dict[str, Evaluation] = {}
        self._head_changes: list[HeadChange] = []
        self._closed = False

    # --- lifecycle
    def close(self) -> None:
        self._closed = True

    def ping(self) -> bool:
        return not self._closed

    # --- agents and keys
    def create_agent(self, agent: Agent, key_hash: str) -> None:
        with self._lock:
            if agent.id in self._agents:
                raise AlreadyExists(f"agent {agent.id} exists", details={"agent_id": agent.id})
            if key_hash in self._key_hashes:
                raise AlreadyExists("that API key is already in use", details={})
            self._agents[agent.id] = copy.deepcopy(agent)
            self._key_hashes[key_hash] = agent.id

    def get_agent(self, agent_id: str) -> Agent | None:
        with self._lock:
            return copy.deepcopy(self._agents.get(agent_id))

    def get_agent_by_key_hash(self, key_hash: str) -> Agent | None:
        with self._lock:
            agent_id = self._key_hashes.get(key_hash)
            return copy.deepcopy(self._agents.get(agent_id)) if agent_id else None

    def list_agents(self, page_size: int, page_token: str) -> tuple[list[Agent], str]:
        with self._lock:
            items = sorted(self._agents.values(), key=lambda a: (a.create_time, a.id))
            return copy.deepcopy(_page(items, page_size, page_token, "agents"))

    def add_compute_seconds(self, agent_id: str, seconds: float) -> None:
        with self._lock:
            agent = self._agents.get(agent_id)
            if agent is not None:
                agent.compute_seconds_used += seconds

    # --- idempotency
    def get_request(self, agent_id: str, kind: str, request_id: str) -> str | None:
        with self._lock:
            return self._requests.get((agent_id, kind, request_id))

    def put_request(self, agent_id: str, kind: str, request_id: str, resource_id: str) -> str:
        with self._lock:
            return self._requests.setdefault((agent_id, kind, request_id), resource_id)

    # --- harnesses
    def put_harness(self, harness: Harness) -> bool:
        with self._lock:
            if harness.id in self._harnesses:
                return False
            self._harnesses[harness.id] = copy.deepcopy(harness)
            return True

    def get_harness(self, harness_id: str) -> Harness | None:
        with self._lock:
            return copy.deepcopy(self._harnesses.get(harness_id))

    def list_harnesses(self, page_size: int, page_token: str) -> tuple[list[Harness], str]:
        with self._lock:
            items = sorted(self._harnesses.values(), key=lambda h: (h.create_time, h.id))
            return copy.deepcopy(_page(items, page_size, page_token, "harnesses"))

    # --- tracks
    def create_track(self, track: Track) -> None:
        with self._lock:
            if track.id in self._tracks:
                raise AlreadyExists(f"track {track.id} exists", details={"track_id": track.id})
            self._tracks[track.id] = copy.deepcopy(track)

    def get_track(self, track_id: str) -> Track | None:
        with self._lock:
            return copy.deepcopy(self._tracks.get(track_id))

    def list_tracks(self, page_size: int, page_token: str) -> tuple[list[Track], str]:
        with self._lock:
            items = sorted(self._tracks.values(), key=lambda t: (t.create_time, t.id))
            return copy.deepcopy(_page(items, page_size, page_token, "tracks"))

    def update_track_noise(self, track_id: str, noise_std: float | None, samples: int) -> None:
        with self._lock:
            track = self._tracks.get(track_id)
            if track is not None:
                track.noise_std = noise_std
                track.noise_samples = samples
                track.update_time = utcnow()

    def compare_and_set_head(
        self,
        track_id: str,
        expected_head: str,
        new_head: str,
        new_head_run_id: str | None,
        *,
        change: HeadChange | None = None,
    ) -> Track | None:
        with self._lock:
            track = self._tracks.get(track_id)
            if track is None or track.head_revision != expected_head:
                return None
            track.head_revision = new_head
            track.head_run_id = new_head_run_id
            track.head_version += 1
            track.update_time = utcnow()
            if change is not None:
                recorded = copy.deepcopy(change)
                recorded.head_version = track.head_version
                self._head_changes.append(recorded)
            return copy.deepcopy(track)

    def put_head_change(self, change: HeadChange) -> None:
        with self._lock:
            self._head_changes.append(copy.deepcopy(change))

    def list_head_changes(
        self, track_id: str, page_size: int, page_token: str
    ) -> tuple[list[HeadChange], str]:
        with self._lock:
            items = [c for c in self._head_changes if c.track_id == track_id]
            return copy.deepcopy(_page(items, page_size, page_token, f"heads:{track_id}"))

    def allocate_fdr_test(self, track_id: str) -> int:
        with self._lock:
            track = self._tracks[track_id]
            track.fdr_tests += 1
            return track.fdr_tests

    # --- revisions and proposals
    def put_revision(self, revision: Revision) -> bool:
        with self._lock:
            if revision.id in self._revisions:
                return False
            self._revisions[revision.id] = copy.deepcopy(revision)
            return True

    def get_revision(self, revision_id: str) -> Revision | None:
        with self._lock:
            return copy.deepcopy(self._revisions.get(revision_id))

    def list_revisions(
        self, track_id: str, author_agent_id: str | None, page_size: int, page_token: str
    ) -> tuple[list[Revision], str]:
        with self._lock:
            items = [
                r
                for r in self._revisions.values()
                if r.track_id == track_id
                and (author_agent_id is None or r.author_agent_id == author_agent_id)
            ]
            items.sort(key=lambda r: (r.create_time, r.id))
            return copy.deepcopy(
                _page(items, page_size, page_token, f"revisions:{track_id}:{author_agent_id}")
            )

    def list_children(self, revision_id: str) -> list[str]:
        with self._lock:
            children = [r for r in self._revisions.values() if r.parent_id == revision_id]
            return [r.id for r in sorted(children, key=lambda r: (r.create_time, r.id))]

    def put_proposal(self, proposal: Proposal) -> None:
        with self._lock:
            self._proposals[proposal.id] = copy.deepcopy(proposal)

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        with self._lock:
            return copy.deepcopy(self._proposals.get(proposal_id))

    def list_proposals(
        self, track_id: str, author_agent_id: str | None, page_size: int, page_token: str
    ) -> tuple[list[Proposal], str]:
        with self._lock:
            items = [
                p
                for p in self._proposals.values()
                if p.track_id == track_id
                and (author_agent_id is None or p.author_agent_id == author_agent_id)
            ]
            items.sort(key=lambda p: (p.create_time, p.id))
            return copy.deepcopy(
                _page(items, page_size, page_token, f"proposals:{track_id}:{author_agent_id}")
            )

    # --- runs
    def create_run(self, run: Run) -> None:
        with self._lock:
            if run.id in self._runs:
                raise AlreadyExists(f"run {run.id} exists", details={"run_id": run.id})
            self._runs[run.id] = copy.deepcopy(run)

    def get_run(self, run_id: str) -> Run | None:
        with self._lock:
            return copy.deepcopy(self._runs.get(run_id))

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
        wanted = set(states) if states is not None else None
        checks: list[Callable[[Run], bool]] = []
        if track_id is not None:
            checks.append(lambda r: r.track_id == track_id)
        if revision_id is not None:
            checks.append(lambda r: r.revision_id == revision_id)
        if agent_id is not None:
            checks.append(lambda r: r.agent_id == agent_id)
        if wanted is not None:
            checks.append(lambda r: r.state in wanted)
        if evaluation_id is not None:
            checks.append(lambda r: r.evaluation_id == evaluation_id)
        with self._lock:
            items = [r for r in self._runs.values() if all(c(r) for c in checks)]
            items.sort(key=lambda r: (r.create_time, r.id), reverse=True)
            return copy.deepcopy(
                _page(
                    items,
                    page_size,
                    page_token,
                    f"runs:{track_id}:{revision_id}:{agent_id}:{sorted(wanted) if wanted is not None else None}:{evaluation_id}",
                )
            )

    def operational_stats(
        self, duration_bounds: Sequence[float], heartbeat_since: datetime
    ) -> OperationalStats:
        stats = OperationalStats()
        with self._lock:
            for run in self._runs.values():
                key = (run.state.value, run.device_class)
                stats.runs[key] = stats.runs.get(key, 0) + 1
                if run.summary is not None and run.state.value in _FINISHED:
                    histogram = stats.run_seconds.setdefault(
                        run.state.value,
                        DurationHistogram(duration_bounds, [0] * len(duration_bounds)),
                    )
                    histogram.observe(run.summary.total_seconds)
                beat = run.heartbeat_time
                if run.worker_id and beat is not None and beat > heartbeat_since:
                    seconds = beat.timestamp()
                    previous = stats.worker_heartbeats.get(run.worker_id, 0.0)
                    stats.worker_heartbeats[run.worker_id] = max(previous, seconds)
            for evaluation in self._evaluations.values():
                verdict = evaluation.verdict.value if evaluation.verdict else ""
                key = (evaluation.state.value, verdict)
                stats.evaluations[key] = stats.evaluations.get(key, 0) + 1
        return stats

    def count_active_runs(self, agent_id: str) -> int:
        active = {RunState.QUEUED, RunState.RUNNING}
        with self._lock:
            return sum(
                1 for r in self._runs.values() if r.agent_id == agent_id and r.state in active
            )

    def transition_run(self, run_id: str, allowed_from: Iterable[RunState], run: Run) -> bool:
        allowed = set(allowed_from)
        with self._lock:
            current = self._runs.get(run_id)
            if current is None or current.state not in allowed:
                return False
            self._runs[run_id] = copy.deepcopy(run)
            return True

    def touch_heartbeat(self, run_id: str, worker_id: str, when: datetime) -> bool:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.state != RunState.RUNNING or run.worker_id != worker_id:
                return False
            run.heartbeat_time = when
            return True

    def list_stale_runs(self, older_than: datetime) -> list[Run]:
        with self._lock:
            stale = []
            for run in self._runs.values():
                last = run.heartbeat_time or run.start_time
                if run.state == RunState.RUNNING and (last is None or last < older_than):
                    stale.append(copy.deepcopy(run))
            return stale

    def touch_queued(self, run_id: str, when: datetime) -> bool:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.state != RunState.QUEUED:
                return False
            self._published[run_id] = when
            return True

    def list_unclaimed_runs(self, published_before: datetime) -> list[Run]:
        with self._lock:
            return [
                copy.deepcopy(run)
                for run in self._runs.values()
                if run.state == RunState.QUEUED
                and (run.id not in self._published or self._published[run.id] < published_before)
            ]

    # --- metrics and events
    def append_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        with self._lock:
            series = self._metrics.setdefault(run_id, {})
            for p in points:
                series[(p.step, p.name)] = msgspec.structs.replace(p)

    def get_metrics(
        self, run_id: str, since_step: int | None, names: list[str] | None, limit: int
    ) -> list[MetricPoint]:
        wanted = set(names) if names else None
        with self._lock:
            series = self._metrics.get(run_id, {})
            keys = sorted(
                k
                for k in series
                if (since_step is None or k[0] >= since_step) and (wanted is None or k[1] in wanted)
            )
            return [msgspec.structs.replace(series[k]) for k in keys[:limit]]

    def append_event(self, run_id: str, type: RunEventType, data: dict, when: datetime) -> RunEvent:
        with self._lock:
            log = self._events.setdefault(run_id, [])
            event = RunEvent(
                run_id=run_id, seq=len(log) + 1, type=type, data=copy.deepcopy(data), time=when
            )
            log.append(event)
            return copy.deepcopy(event)

    def list_events(self, run_id: str, after_seq: int, limit: int) -> list[RunEvent]:
        with self._lock:
            log = self._events.get(run_id, [])
            # seq n sits at index n - 1
            return copy.deepcopy(log[max(after_seq, 0) : max(after_seq, 0) + limit])

    # --- evaluations
    def put_evaluation(self, evaluation: Evaluation) -> None:
        with self._lock:
            self._evaluations[evaluation.id] = copy.deepcopy(evaluation)

    def get_evaluation(self, evaluation_id: str) -> Evaluation | None:
        with self._lock:
            return copy.deepcopy(self._evaluations.get(evaluation_id))

    def list_evaluations(self, track_id: str) -> list[Evaluation]:
        with self._lock:
            found = [e for e in self._evaluations.values() if e.track_id == track_id]
            found.sort(key=lambda e: (e.create_time, e.id))
            return copy.deepcopy(found)

    def replace_evaluation(self, evaluation: Evaluation, expected_version: int) -> bool:
        with self._lock:
            stored = self._evaluations.get(evaluation.id)
            if stored is None or stored.version != expected_version:
                return False
            self._evaluations[evaluation.id] = msgspec.structs.replace(
                copy.deepcopy(evaluation), version=expected_version + 1
            )
            return True

    def list_pending_evaluations(self, track_id: str | None = None) -> list[Evaluation]:
        with self._lock:
            pending = [
                e
                for e in self._evaluations.values()
                if e.state == EvaluationState.PENDING
                and (track_id is None or e.track_id == track_id)
            ]
            pending.sort(key=lambda e: (e.create_time, e.id))
            return copy.deepcopy(pending)
