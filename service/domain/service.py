"""The domain core: every capability of SPEC §2 exactly once.

Transports (HTTP, gRPC, the CLI) authenticate a caller with `authenticate`,
then call one method here with the resulting `Principal`. Methods are
synchronous (SQL stores are synchronous); transports run them in a thread.
`watch_run` is the one async method (it polls the event log).

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

import asyncio
import json
import math
import re
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import structlog

from service.domain import edits, ids
from service.domain.charts import RevisionPoint, render_progress_png
from service.domain.decisions import (
    ast_hash,
    error_budget,
    lord_level,
    sample_stats,
    sample_std,
    sequential_decision,
    speed_check,
    speeds_match,
    t_interval,
)
from service.domain.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    LoopyError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    QuotaExceeded,
    Unauthenticated,
    Unavailable,
)
from service.domain.models import (
    RUN_TRANSITIONS,
    TERMINAL_RUN_STATES,
    Agent,
    AgentQuota,
    BudgetKind,
    CreatedAgent,
    DecisionPolicy,
    DiffStats,
    ErrorBudget,
    EvalPair,
    EvaluateRequest,
    Evaluation,
    EvaluationState,
    FailureReason,
    Harness,
    HeadChange,
    LaunchRunRequest,
    Leaderboard,
    LeaderboardEntry,
    MetricPoint,
    MetricSeries,
    Page,
    PatchFormat,
    Principal,
    Program,
    PromoteRequest,
    Proposal,
    ProposalOutcome,
    ProposeEditRequest,
    ProposeEditResult,
    Revision,
    RevisionView,
    Role,
    Run,
    RunAssignment,
    RunEvent,
    RunEventType,
    RunLogs,
    RunOutcome,
    RunPurpose,
    RunState,
    Track,
    Verdict,
    sandbox_of,
    utcnow,
)
from service.domain.ports import ArtifactIntegrityError, ArtifactStore, Dispatcher, MetadataStore
from service.domain.program import decision_state_text, generate_program

log = structlog.get_logger(__name__)

T = TypeVar("T")

TRACK_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
DEVICE_CLASS_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,31}$")
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
HARNESS_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_REQUEST_ID_CHARS = 128
MAX_NAME_CHARS = 100
MAX_PROGRAM_CHARS = 100_000
MAX_SEED = 2**31 - 1
MAX_STEP = 2**63 - 1  # metric steps are 64-bit in every store and on the wire
# How long a call waits for a concurrent call with the same request_id to store its
# result before telling the caller to retry (a proposal is validated in ~1 s).
REQUEST_WAIT_S = 10.0
ACTIVE_RUN_STATES = frozenset({RunState.QUEUED, RunState.RUNNING})
PAIRED_METHOD = "paired seeds, scale-invariant mixture SPRT, LORD++ levels"
ARTIFACT_NAMES = ("source", "log", "checkpoint")


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
    # WALL_SECONDS (default): each run trains for time_budget_s. TOKENS: each run trains
    # on token_budget tokens (time_budget_s stays the hard limit), so runs on slow or
    # busy workers compare fairly with runs on fast ones.
    budget_kind: BudgetKind = BudgetKind.WALL_SECONDS
    token_budget: int = 0
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


def _builtins(obj: Any) -> Any:
    """JSON-ready form (RFC 3339 times, enum values) for event payloads."""
    return msgspec.to_builtins(obj)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _require_utf8(req: ProposeEditRequest) -> None:
    """Refuse text that cannot be stored as UTF-8 (lone surrogates from in-process callers)
    before anything is recorded; JSON and protobuf transports never deliver such text."""
    texts = [req.description, req.base_revision, req.unified_diff, req.full_source]
    for block in req.search_replace or []:
        texts += [block.search, block.replace]
    for text in texts:
        if text is None:
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgument(
                "the edit contains text that is not valid UTF-8",
                details={"position": exc.start, "reason": exc.reason},
            ) from exc


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
        # Serialises finishing evaluations and calibration inside this process;
        # across processes the stores' conditional writes decide.
        self._finish_lock = threading.RLock()
        self._ready_cache: tuple[float, dict[str, bool]] | None = None

    # ======================================================================
    # Shared helpers
    # ======================================================================

    def _require_admin(self, principal: Principal, action: str) -> None:
        if not principal.is_admin:
            raise PermissionDenied(
                f"only an admin may {action}",
                details={"action": action, "agent_id": principal.agent_id, "role": principal.role},
            )

    def _page_size(self, page_size: int | None) -> int:
        if page_size is None or page_size == 0:
            return self.settings.default_page_size
        if page_size < 0:
            raise InvalidArgument(
                "page_size must not be negative",
                details={"field": "page_size", "value": page_size},
            )
        return min(page_size, self.settings.max_page_size)

    def _track(self, track_id: str) -> Track:
        track = self.meta.get_track(track_id)
        if track is None:
            raise NotFound(f"track {track_id!r} not found", details={"track_id": track_id})
        return track

    def _run(self, run_id: str) -> Run:
        run = self.meta.get_run(run_id)
        if run is None:
            raise NotFound(f"run {run_id!r} not found", details={"run_id": run_id})
        return run

    def _revision(self, revision_id: str) -> Revision:
        revision = self.meta.get_revision(revision_id)
        if revision is None:
            raise NotFound(
                f"revision {revision_id!r} not found", details={"revision_id": revision_id}
            )
        return revision

    def _harness(self, harness_id: str) -> Harness:
        harness = self.meta.get_harness(harness_id)
        if harness is None:
            raise NotFound(f"harness {harness_id!r} not found", details={"harness_id": harness_id})
        return harness

    def _agent(self, agent_id: str) -> Agent:
        agent = self.meta.get_agent(agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id!r} not found", details={"agent_id": agent_id})
        return agent

    @staticmethod
    def _on_track(revision: Revision, track: Track) -> bool:
        """A revision may be used on a track it was proposed on, or that starts or ends with it."""
        return revision.track_id == track.id or revision.id in (
            track.baseline_revision,
            track.head_revision,
        )

    def _all_runs(self, **filters: Any) -> list[Run]:
        """Every run matching the filters, newest first (pages through the store)."""
        runs: list[Run] = []
        token = ""
        while True:
            page, token = self.meta.list_runs(page_size=1000, page_token=token, **filters)
            runs.extend(page)
            if not token:
                return runs

    # --- idempotency ------------------------------------------------------

    @staticmethod
    def _check_request_id(request_id: str | None) -> None:
        if request_id is not None and not (0 < len(request_id) <= MAX_REQUEST_ID_CHARS):
            raise InvalidArgument(
                f"request_id must be 1 to {MAX_REQUEST_ID_CHARS} characters",
                details={"field": "request_id", "length": len(request_id)},
            )
        if request_id and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in request_id):
            raise InvalidArgument(
                "request_id must not contain control characters (such as NUL)",
                details={"field": "request_id"},
            )

    @staticmethod
    def _await_resource(
        load: Callable[[str], T | None], resource_id: str, wait_s: float = 2.0
    ) -> T | None:
        """The resource another call reserved, once that call has stored it."""
        deadline = time.monotonic() + wait_s
        while True:
            found = load(resource_id)
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def _replayed(
        self,
        principal: Principal,
        kind: str,
        request_id: str | None,
        load: Callable[[str], T | None],
    ) -> tuple[T | None, str | None]:
        """(the first result, its reserved id) of an earlier call with this request id.

        A reserved id without a resource means that call died before creating it:
        the caller then creates the resource under the reserved id.
        """
        self._check_request_id(request_id)
        if not request_id:
            return None, None
        resource_id = self.meta.get_request(principal.agent_id, kind, request_id)
        if resource_id is None:
            return None, None
        return self._await_resource(load, resource_id), resource_id

    def _reserve(
        self,
        principal: Principal,
        kind: str,
        request_id: str | None,
        fresh_id: str,
        load: Callable[[str], T | None],
    ) -> tuple[T | None, str]:
        """Claim `request_id` for `fresh_id`; when a concurrent call won, its result."""
        if not request_id:
            return None, fresh_id
        winner = self.meta.put_request(principal.agent_id, kind, request_id, fresh_id)
        if winner == fresh_id:
            return None, fresh_id
        return self._await_resource(load, winner), winner

    # --- run state machine --------------------------------------------------

    def _emit_state(self, run: Run) -> None:
        self.meta.append_event(run.id, RunEventType.STATE, _builtins(run), utcnow())

    def _transition(self, run: Run, to: RunState, **changes: Any) -> Run | None:
        """Move `run` (as read) to `to`; None when illegal or when the stored run changed."""
        if to not in RUN_TRANSITIONS[run.state]:
            return None
        updated = msgspec.structs.replace(run, state=to, **changes)
        # Conditional on the state we read: a racing cancel/finish/reap makes this a no-op.
        if not self.meta.transition_run(run.id, [run.state], updated):
            return None
        self._emit_state(updated)
        log.info("run.state", run_id=run.id, track_id=run.track_id, state=to.value)
        return updated

    def _illegal_transition(self, run: Run, to: RunState) -> FailedPrecondition:
        allowed_from = sorted(s.value for s, targets in RUN_TRANSITIONS.items() if to in targets)
        return FailedPrecondition(
            f"run {run.id} is {run.state.value}; it cannot become {to.value}",
            details={
                "run_id": run.id,
                "state": run.state.value,
                "requested_state": to.value,
                "allowed_from": allowed_from,
            },
        )

    def _new_run(
        self,
        *,
        run_id: str,
        track: Track,
        revision_id: str,
        agent_id: str,
        purpose: RunPurpose,
        seed: int,
        request_id: str | None = None,
        evaluation_id: str | None = None,
    ) -> Run:
        """Store a QUEUED run, announce it, and hand it to the dispatcher."""
        run = Run(
            id=run_id,
            track_id=track.id,
            revision_id=revision_id,
            harness_id=track.harness_id,
            agent_id=agent_id,
            purpose=purpose,
            seed=seed,
            device_class=track.device_class,
            time_budget_s=track.time_budget_s,
            state=RunState.QUEUED,
            failure_reason=None,
            failure_message=None,
            summary=None,
            worker_id=None,
            attempt=1,
            create_time=utcnow(),
            start_time=None,
            end_time=None,
            heartbeat_time=None,
            request_id=request_id,
            evaluation_id=evaluation_id,
            token_budget=track.token_budget if track.budget_kind is BudgetKind.TOKENS else 0,
        )
        self.meta.create_run(run)
        self._emit_state(run)
        # Accepted once stored: a publish that fails now (broker down) is retried by
        # the sweeper (requeue_unclaimed_runs), so the run is delayed, never lost.
        self._publish(run)
        log.info("run.queued", run_id=run.id, track_id=track.id, agent_id=agent_id)
        return run

    def _publish(self, run: Run) -> bool:
        """Hand a QUEUED run to the dispatcher and note when; False when the broker
        refused (the sweeper publishes it again after `requeue_after_s`)."""
        try:
            self.dispatcher.submit(run)
        except Exception as exc:
            log.warning("run.publish_failed", run_id=run.id, error=str(exc))
            return False
        try:
            self.meta.touch_queued(run.id, utcnow())
        except Exception as exc:  # only makes the sweeper publish it once more
            log.warning("run.publish_unrecorded", run_id=run.id, error=str(exc))
        return True

    @staticmethod
    def _free_seed(used: set[int]) -> int:
        while True:
            seed = secrets.randbelow(MAX_SEED)
            if seed not in used:
                used.add(seed)
                return seed

    def _check_run_quota(self, agent: Agent, track: Track, needed: int = 1) -> None:
        active = self.meta.count_active_runs(agent.id)
        if active + needed > agent.quota.max_queued_runs:
            raise QuotaExceeded(
                f"agent {agent.id} has {active} runs queued or running; "
                f"the limit is {agent.quota.max_queued_runs}",
                details={
                    "quota": "max_queued_runs",
                    "limit": agent.quota.max_queued_runs,
                    "active_runs": active,
                    "requested": needed,
                },
                # A slot frees when one of the agent's runs ends: about one budget away.
                retry_after_s=track.time_budget_s,
            )
        self._check_compute_quota(agent)

    @staticmethod
    def _check_compute_quota(agent: Agent) -> None:
        if agent.compute_seconds_used >= agent.quota.max_compute_seconds:
            raise QuotaExceeded(
                f"agent {agent.id} has used its compute quota "
                f"({agent.compute_seconds_used:.0f} of {agent.quota.max_compute_seconds:.0f} s)",
                details={
                    "quota": "max_compute_seconds",
                    "limit": agent.quota.max_compute_seconds,
                    "used": agent.compute_seconds_used,
                    "advice": "the compute quota is a lifetime budget; an admin can raise it",
                },
            )

    def _edit_policy(self, track: Track) -> edits.EditPolicy:
        return edits.EditPolicy(
            allowed_imports=frozenset(track.allowed_imports),
            max_source_bytes=self.settings.max_source_bytes,
            max_patch_bytes=self.settings.max_patch_bytes,
            max_description_chars=self.settings.max_description_chars,
        )

    # ======================================================================
    # Auth and agents
    # ======================================================================

    def authenticate(self, api_key: str | None) -> Principal:
        """Unauthenticated when missing or unknown."""
        scheme, _, rest = (api_key or "").strip().partition(" ")
        key = rest.strip() if scheme.lower() == "bearer" else scheme
        if not key:
            raise Unauthenticated(
                "an API key is required",
                details={"header": "Authorization: Bearer <key>", "grpc_metadata": "authorization"},
            )
        agent = self.meta.get_agent_by_key_hash(ids.hash_api_key(key))
        if agent is None:
            raise Unauthenticated(
                "the API key is not valid",
                details={"key_prefix": key[: len(ids.API_KEY_PREFIX)]},
            )
        return Principal(agent_id=agent.id, name=agent.name, role=agent.role)

    def _create_agent(self, name: str, role: Role, quota: AgentQuota | None) -> CreatedAgent:
        name = name.strip()
        if not name or len(name) > MAX_NAME_CHARS:
            raise InvalidArgument(
                f"name must be 1 to {MAX_NAME_CHARS} characters",
                details={"field": "name", "length": len(name)},
            )
        quota = quota or msgspec.structs.replace(self.settings.default_agent_quota)
        if quota.max_queued_runs < 0 or not quota.max_compute_seconds >= 0:
            raise InvalidArgument(
                "quotas must not be negative",
                details={
                    "field": "quota",
                    "max_queued_runs": quota.max_queued_runs,
                    "max_compute_seconds": quota.max_compute_seconds,
                },
            )
        api_key = ids.new_api_key()
        agent = Agent(
            id=ids.new_id("agent"), name=name, role=role, quota=quota, create_time=utcnow()
        )
        self.meta.create_agent(agent, ids.hash_api_key(api_key))
        log.info("agent.created", agent_id=agent.id, role=role.value)
        return CreatedAgent(agent=agent, api_key=api_key)

    def bootstrap_admin(self, name: str = "admin") -> CreatedAgent:
        """Create an admin agent without a caller (CLI `loopy keys create`, `loopy up`)."""
        return self._create_agent(name, Role.ADMIN, None)

    def create_agent(self, principal: Principal, req: CreateAgentRequest) -> CreatedAgent:
        """Admin only."""
        self._require_admin(principal, "create agents")
        return self._create_agent(req.name, req.role, req.quota)

    def get_agent(self, principal: Principal, agent_id: str) -> Agent:
        """An agent may read itself; admins anyone."""
        if agent_id != principal.agent_id and not principal.is_admin:
            raise PermissionDenied(
                "an agent may read only itself",
                details={"agent_id": agent_id, "caller_agent_id": principal.agent_id},
            )
        return self._agent(agent_id)

    # ======================================================================
    # Harnesses
    # ======================================================================

    def create_harness(self, principal: Principal, req: CreateHarnessRequest) -> Harness:
        self._require_admin(principal, "register harnesses")
        found, _ = self._replayed(principal, "harness", req.request_id, self.meta.get_harness)
        if found is not None:
            return found
        if req.demo == bool(req.path):
            raise InvalidArgument(
                "give exactly one of `path` and `demo`",
                details={"field": "path", "path": req.path, "demo": req.demo},
            )
        if req.demo:
            directory = self._build_demo_harness()
        else:
            assert req.path is not None
            directory = Path(req.path)
        harness = self._register_harness_dir(directory, req.description)
        if req.request_id:
            self.meta.put_request(principal.agent_id, "harness", req.request_id, harness.id)
        return harness

    def _build_demo_harness(self) -> Path:
        base = self.settings.harness_build_dir or tempfile.mkdtemp(prefix="loopy-demo-")
        out_dir = Path(base) / "demo-harness"
        try:
            from trainer.data.demo import build_demo_harness
        except ImportError as exc:  # the trainer is an optional part of a deployment
            raise Unavailable(
                "the demo harness builder is not installed", details={"error": str(exc)}
            ) from exc
        build_demo_harness(out_dir)
        return out_dir

    def _register_harness_dir(self, directory: Path, description: str) -> Harness:
        """Copy a prepared harness into the artifact store, verifying every file's sha256."""
        if not directory.is_dir():
            raise InvalidArgument(
                "harness path is not a directory the server can read",
                details={"field": "path", "path": str(directory)},
            )
        manifest_path = directory / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InvalidArgument(
                "harness directory has no manifest.json", details={"path": str(directory)}
            ) from exc
        except (OSError, ValueError) as exc:
            raise InvalidArgument(
                "manifest.json is not readable JSON",
                details={"path": str(manifest_path), "error": str(exc)},
            ) from exc
        harness = self._harness_from_manifest(manifest, description)
        existing = self.meta.get_harness(harness.id)
        if existing is not None:  # content-addressed: same id, same files
            return existing
        total = 0
        for name, expected in sorted(harness.files.items()):
            path = directory / name
            if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
                raise InvalidArgument(
                    "a file listed in the manifest is missing or not a plain file name",
                    details={"file": name, "path": str(directory)},
                )
            with path.open("rb") as f:
                ref = self.artifacts.put(ids.harness_key(harness.id, name), f, path.stat().st_size)
            if ref.sha256 != expected:
                raise InvalidArgument(
                    "a harness file does not match the sha256 in its manifest",
                    details={
                        "file": name,
                        "expected_sha256": expected,
                        "actual_sha256": ref.sha256,
                    },
                )
            total += ref.size_bytes
        # The manifest goes last: its presence in the store marks a complete upload.
        self.artifacts.put_bytes(
            ids.harness_key(harness.id, "manifest.json"), manifest_path.read_bytes()
        )
        harness.size_bytes = total
        if not self.meta.put_harness(harness):
            return self._harness(harness.id)
        log.info("harness.created", harness_id=harness.id, size_bytes=total)
        return harness

    def _harness_from_manifest(self, manifest: Any, description: str) -> Harness:
        if not isinstance(manifest, dict) or manifest.get("format") != "loopy-harness/1":
            raise InvalidArgument(
                "manifest.json is not a loopy-harness/1 manifest",
                details={"format": manifest.get("format") if isinstance(manifest, dict) else None},
            )
        required = {
            "harness_id": str,
            "vocab_size": int,
            "bos_token_id": int,
            "seq_len": int,
            "eval_tokens": int,
            "files": dict,
        }
        for field, kind in required.items():
            if not isinstance(manifest.get(field), kind):
                raise InvalidArgument(
                    f"manifest.json field {field!r} is missing or not {kind.__name__}",
                    details={"field": field, "value": repr(manifest.get(field))[:100]},
                )
        harness_id = manifest["harness_id"]
        if not HARNESS_ID_RE.match(harness_id):
            raise InvalidArgument(
                "manifest harness_id has unexpected characters",
                details={"field": "harness_id", "value": harness_id[:100]},
            )
        files = manifest["files"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise InvalidArgument(
                "manifest files must map names to sha256 strings", details={"field": "files"}
            )
        budget = manifest.get("time_budget_s", self.settings.default_time_budget_s)
        if not isinstance(budget, int | float) or not budget > 0:
            raise InvalidArgument(
                "manifest time_budget_s must be a positive number",
                details={"field": "time_budget_s", "value": repr(budget)},
            )
        return Harness(
            id=harness_id,
            description=description or str(manifest.get("description", "")),
            vocab_size=manifest["vocab_size"],
            seq_len=manifest["seq_len"],
            eval_tokens=manifest["eval_tokens"],
            bos_token_id=manifest["bos_token_id"],
            time_budget_s=float(budget),
            metric=str(manifest.get("metric", "val_bpb")),
            files=dict(files),
            size_bytes=0,
            create_time=utcnow(),
        )

    def get_harness(self, principal: Principal, harness_id: str) -> Harness:
        return self._harness(harness_id)

    def list_harnesses(
        self, principal: Principal, page_size: int | None, page_token: str
    ) -> Page[Harness]:
        items, token = self.meta.list_harnesses(self._page_size(page_size), page_token)
        return Page(items=items, next_page_token=token)

    # ======================================================================
    # Tracks
    # ======================================================================

    def create_track(self, principal: Principal, req: CreateTrackRequest) -> Track:
        """Admin only. Stores the baseline revision and launches the calibration runs."""
        return self._with_budget(self._create_track(principal, req))

    def _create_track(self, principal: Principal, req: CreateTrackRequest) -> Track:
        self._require_admin(principal, "create tracks")
        found, reserved = self._replayed(principal, "track", req.request_id, self.meta.get_track)
        if found is not None:
            return found
        self._validate_track_request(req)
        harness = self._harness(req.harness_id)
        if reserved is None and self.meta.get_track(req.track_id) is not None:
            raise AlreadyExists(
                f"track {req.track_id!r} already exists", details={"track_id": req.track_id}
            )
        budget = req.time_budget_s or harness.time_budget_s or self.settings.default_time_budget_s
        allowed = sorted(set(req.allowed_imports or self.settings.default_allowed_imports))

        if req.baseline_source is not None:
            source = req.baseline_source
        else:
            from trainer.baseline import baseline_source

            source = baseline_source()
        self._check_source_size(source, "baseline_source")
        now = utcnow()
        display_name = req.display_name.strip() or req.track_id
        program = req.program or generate_program(
            track_id=req.track_id,
            display_name=display_name,
            description=req.description,
            harness=harness,
            time_budget_s=budget,
            device_class=req.device_class,
            policy=req.policy,
            allowed_imports=allowed,
            max_source_bytes=self.settings.max_source_bytes,
            budget_kind=req.budget_kind,
            token_budget=req.token_budget,
        )
        baseline_id = ids.revision_id(source)
        track = Track(
            id=req.track_id,
            display_name=display_name,
            description=req.description,
            program=program,
            harness_id=harness.id,
            baseline_revision=baseline_id,
            head_revision=baseline_id,
            head_run_id=None,
            device_class=req.device_class,
            time_budget_s=float(budget),
            policy=req.policy,
            allowed_imports=allowed,
            noise_std=None,
            noise_samples=0,
            creator_agent_id=principal.agent_id,
            create_time=now,
            update_time=now,
            budget_kind=req.budget_kind,
            token_budget=req.token_budget if req.budget_kind is BudgetKind.TOKENS else 0,
        )
        edits.validate_source(source, self._edit_policy(track))

        if reserved is None:
            found, reserved = self._reserve(
                principal, "track", req.request_id, req.track_id, self.meta.get_track
            )
            if found is not None:
                return found
        self.meta.put_revision(
            Revision(
                id=baseline_id,
                track_id=track.id,
                parent_id=None,
                author_agent_id=principal.agent_id,
                description="baseline",
                source=source,
                diff_to_parent="",
                stats=DiffStats(lines_added=0, lines_removed=0),
                rebased=False,
                create_time=now,
                ast_hash=ast_hash(source),
            )
        )
        try:
            self.meta.create_track(track)
        except AlreadyExists:
            existing = self.meta.get_track(track.id)
            if existing is not None and req.request_id and reserved == track.id:
                return existing  # a concurrent retry of this very request created it
            raise
        self.meta.put_head_change(
            HeadChange(
                id=ids.new_id("head"),
                track_id=track.id,
                head_version=track.head_version,
                from_revision=None,
                to_revision=baseline_id,
                run_id=None,
                evaluation_id=None,
                agent_id=principal.agent_id,
                forced=False,
                reason="baseline: the track starts here",
                time=now,
            )
        )
        log.info("track.created", track_id=track.id, harness_id=harness.id)
        for seed in range(req.policy.calibration_runs):
            self._new_run(
                run_id=ids.new_id("run"),
                track=track,
                revision_id=baseline_id,
                agent_id=principal.agent_id,
                purpose=RunPurpose.CALIBRATION,
                seed=seed,
            )
        return track

    def _validate_track_request(self, req: CreateTrackRequest) -> None:
        def bad(field: str, message: str, value: Any) -> InvalidArgument:
            return InvalidArgument(message, details={"field": field, "value": value})

        if not TRACK_ID_RE.match(req.track_id):
            raise bad(
                "track_id",
                "track_id must be 3-63 characters of a-z, 0-9 and '-', starting with a letter or digit",
                req.track_id[:100],
            )
        if not DEVICE_CLASS_RE.match(req.device_class):
            raise bad(
                "device_class", "device_class must look like 'cpu' or 'cuda'", req.device_class
            )
        if req.time_budget_s is not None and not (
            0 < req.time_budget_s <= self.settings.max_time_budget_s
        ):
            raise bad(
                "time_budget_s",
                f"time_budget_s must be in (0, {self.settings.max_time_budget_s:g}]",
                req.time_budget_s,
            )
        if len(req.display_name) > MAX_NAME_CHARS:
            raise bad("display_name", f"display_name is over {MAX_NAME_CHARS} characters", None)
        if len(req.description) > self.settings.max_description_chars:
            raise InvalidArgument(
                f"description is over {self.settings.max_description_chars} characters",
                details={
                    "field": "description",
                    "limit": self.settings.max_description_chars,
                    "actual": len(req.description),
                },
            )
        if req.program is not None and len(req.program) > MAX_PROGRAM_CHARS:
            raise PayloadTooLarge(
                "program is too long",
                details={
                    "field": "program",
                    "limit": MAX_PROGRAM_CHARS,
                    "actual": len(req.program),
                },
            )
        p = req.policy
        if not 0 <= p.calibration_runs <= self.settings.max_calibration_runs:
            raise bad(
                "policy.calibration_runs",
                f"calibration_runs must be 0 to {self.settings.max_calibration_runs}",
                p.calibration_runs,
            )
        if not 1 <= p.replicates <= self.settings.max_replicates:
            raise bad(
                "policy.replicates",
                f"replicates must be 1 to {self.settings.max_replicates}",
                p.replicates,
            )
        if not (math.isfinite(p.k_sigma) and p.k_sigma >= 0):
            raise bad("policy.k_sigma", "k_sigma must be a finite number >= 0", p.k_sigma)
        if not (math.isfinite(p.min_delta) and p.min_delta >= 0):
            raise bad("policy.min_delta", "min_delta must be a finite number >= 0", p.min_delta)
        if not p.replicates <= p.max_pairs <= self.settings.max_pairs:
            raise bad(
                "policy.max_pairs",
                f"max_pairs must be replicates ({p.replicates}) to {self.settings.max_pairs}",
                p.max_pairs,
            )
        if not (math.isfinite(p.fdr_alpha) and 0 < p.fdr_alpha < 1):
            raise bad("policy.fdr_alpha", "fdr_alpha must be in (0, 1)", p.fdr_alpha)
        if not (math.isfinite(p.speed_tolerance) and 0 < p.speed_tolerance <= 10):
            raise bad(
                "policy.speed_tolerance", "speed_tolerance must be in (0, 10]", p.speed_tolerance
            )
        if req.budget_kind is BudgetKind.TOKENS and not 0 < req.token_budget <= 10**15:
            raise bad(
                "token_budget",
                "a TOKENS budget needs token_budget > 0 (training tokens per run)",
                req.token_budget,
            )
        for module in req.allowed_imports or ():
            if not MODULE_RE.match(module):
                raise bad("allowed_imports", "not a module name", module[:100])

    def _check_source_size(self, source: str, field: str) -> None:
        size = len(source.encode("utf-8"))
        if size > self.settings.max_source_bytes:
            raise PayloadTooLarge(
                f"{field} is over the size limit",
                details={
                    "field": field,
                    "limit_bytes": self.settings.max_source_bytes,
                    "bytes": size,
                },
            )

    def get_track(self, principal: Principal, track_id: str) -> Track:
        return self._with_budget(self._track(track_id))

    def list_tracks(
        self, principal: Principal, page_size: int | None, page_token: str
    ) -> Page[Track]:
        items, token = self.meta.list_tracks(self._page_size(page_size), page_token)
        return Page(items=[self._with_budget(t) for t in items], next_page_token=token)

    def _error_budget(self, track: Track) -> ErrorBudget:
        """The track's LORD++ ledger, recomputed from its evaluations (the record)."""
        levels: list[float] = []
        discoveries: list[int] = []
        for evaluation in self.meta.list_evaluations(track.id):
            if evaluation.fdr_test_index is None or evaluation.level is None:
                continue
            levels.append(evaluation.level)
            if evaluation.state is EvaluationState.DONE and evaluation.verdict is Verdict.KEEP:
                discoveries.append(evaluation.fdr_test_index)
        return error_budget(track.policy.fdr_alpha, levels, discoveries, track.fdr_tests)

    def _with_budget(self, track: Track) -> Track:
        return msgspec.structs.replace(track, error_budget=self._error_budget(track))

    def get_program(self, principal: Principal, track_id: str) -> Program:
        track = self._with_budget(self._track(track_id))
        harness = self.meta.get_harness(track.harness_id)
        return Program(
            track_id=track.id,
            text=track.program + decision_state_text(track),
            head_revision=track.head_revision,
            baseline_revision=track.baseline_revision,
            metric=harness.metric if harness else "val_bpb",
            time_budget_s=track.time_budget_s,
        )

    # ======================================================================
    # Revisions
    # ======================================================================

    def propose_edit(
        self, principal: Principal, track_id: str, req: ProposeEditRequest
    ) -> ProposeEditResult:
        """Apply, validate and store (see service.domain.edits). Refusals are kept as
        proposals and raised as InvalidArgument with a machine-readable `details`."""
        track = self._track(track_id)
        self._check_request_id(req.request_id)
        _require_utf8(req)
        proposal_id = ids.new_id("prop")
        if req.request_id:
            # Reserve the request id first: of concurrent retries exactly one does the
            # work, the others wait for its answer (one proposal, the same answer).
            winner = self.meta.put_request(
                principal.agent_id, "proposal", req.request_id, proposal_id
            )
            if winner != proposal_id:
                replay = self._replay_proposal(winner)
                if replay is not None:
                    return replay
                # The first call died before storing anything: do its work under its id.
                proposal_id = winner

        given = [
            fmt
            for fmt, value in (
                (PatchFormat.UNIFIED_DIFF, req.unified_diff),
                (PatchFormat.SEARCH_REPLACE, req.search_replace),
                (PatchFormat.FULL_SOURCE, req.full_source),
            )
            if value is not None
        ]
        fmt = given[0] if given else PatchFormat.FULL_SOURCE
        now = utcnow()
        proposal = Proposal(
            id=proposal_id,
            track_id=track.id,
            author_agent_id=principal.agent_id,
            base_revision=req.base_revision or track.head_revision,
            head_revision_at_proposal=track.head_revision,
            format=fmt,
            # Kept to the limit so a refused oversize patch still leaves a trace.
            patch=self._patch_text(req, fmt)[: self.settings.max_patch_bytes],
            description=req.description[: self.settings.max_description_chars],
            outcome=ProposalOutcome.REJECTED,
            revision_id=None,
            rejection_message=None,
            rejection_details=None,
            create_time=now,
            request_id=req.request_id,
        )
        try:
            base = self.meta.get_revision(proposal.base_revision)
            if base is None:
                raise NotFound(
                    f"base revision {proposal.base_revision!r} not found",
                    details={"field": "base_revision", "revision_id": proposal.base_revision},
                )
            if not self._on_track(base, track):
                raise InvalidArgument(
                    "the base revision belongs to another track",
                    details={
                        "field": "base_revision",
                        "revision_id": base.id,
                        "revision_track_id": base.track_id,
                        "track_id": track.id,
                    },
                )
            head = base if base.id == track.head_revision else self._revision(track.head_revision)
            applied = edits.apply_edit(base.source, head.source, req, self._edit_policy(track))
        except LoopyError as err:
            err.details.setdefault("proposal_id", proposal.id)
            proposal.rejection_message = err.message
            proposal.rejection_details = {"code": err.code.value, **err.details}
            self.meta.put_proposal(proposal)
            log.info("proposal.refused", track_id=track.id, reason=err.message)
            raise

        source = applied.source
        parent = head if applied.rebased else base
        rev_id = ids.revision_id(source)
        revision = self.meta.get_revision(rev_id)
        already_exists = revision is not None
        if revision is None:
            candidate = Revision(
                id=rev_id,
                track_id=track.id,
                parent_id=parent.id,
                author_agent_id=principal.agent_id,
                description=req.description.strip(),
                source=source,
                diff_to_parent=edits.unified_diff(parent.source, source),
                stats=edits.diff_stats(parent.source, source),
                rebased=applied.rebased,
                # Equal to the proposal's time: a replay tells "made here" by it.
                create_time=now,
                ast_hash=ast_hash(source),
            )
            if self.meta.put_revision(candidate):
                revision = candidate
            else:  # a concurrent proposal stored the same source first
                revision = self._revision(rev_id)
                already_exists = True
        proposal.outcome = ProposalOutcome.ACCEPTED
        proposal.revision_id = rev_id
        self.meta.put_proposal(proposal)
        log.info("revision.proposed", track_id=track.id, revision_id=rev_id, existed=already_exists)
        return ProposeEditResult(
            revision=revision,
            proposal_id=proposal.id,
            already_exists=already_exists,
            rebased=applied.rebased,
            existing_run_ids=self.run_ids_of_revision(rev_id) if already_exists else [],
            notes=list(applied.notes),
            equivalent_to=self._equivalents(track.id, revision),
        )

    def _revision_ast_hash(self, revision: Revision) -> str:
        return revision.ast_hash or ast_hash(revision.source)

    def _equivalents(self, track_id: str, revision: Revision) -> list[str]:
        """Other revisions of the track with the same behaviour (same AST without comments,
        docstrings and formatting), oldest first."""
        wanted = self._revision_ast_hash(revision)
        if not wanted:
            return []
        found: list[str] = []
        token = ""
        while True:
            page, token = self.meta.list_revisions(track_id, None, 1000, token)
            found += [
                r.id for r in page if r.id != revision.id and self._revision_ast_hash(r) == wanted
            ]
            if not token:
                return found

    @staticmethod
    def _patch_text(req: ProposeEditRequest, fmt: PatchFormat) -> str:
        if fmt is PatchFormat.UNIFIED_DIFF:
            return req.unified_diff or ""
        if fmt is PatchFormat.SEARCH_REPLACE:
            return msgspec.json.encode(req.search_replace or []).decode()
        return req.full_source or ""

    def _replay_proposal(self, proposal_id: str) -> ProposeEditResult | None:
        proposal = self._await_resource(self.meta.get_proposal, proposal_id, REQUEST_WAIT_S)
        if proposal is None:
            return None
        if proposal.outcome is ProposalOutcome.REJECTED or proposal.revision_id is None:
            details = dict(proposal.rejection_details or {})
            code = details.pop("code", None)
            message = proposal.rejection_message or "the proposal was refused"
            error_type: type[LoopyError] = {
                "NOT_FOUND": NotFound,
                "PAYLOAD_TOO_LARGE": PayloadTooLarge,
            }.get(str(code), InvalidArgument)
            raise error_type(message, details=details)
        revision = self._revision(proposal.revision_id)
        already_exists = revision.create_time != proposal.create_time
        return ProposeEditResult(
            revision=revision,
            proposal_id=proposal.id,
            already_exists=already_exists,
            rebased=revision.rebased and not already_exists,
            existing_run_ids=self.run_ids_of_revision(revision.id) if already_exists else [],
            equivalent_to=self._equivalents(proposal.track_id, revision),
        )

    def get_revision(self, principal: Principal, revision_id: str) -> RevisionView:
        revision = self._revision(revision_id)
        track = self.meta.get_track(revision.track_id)
        baseline = self.meta.get_revision(track.baseline_revision) if track else None
        baseline_source = baseline.source if baseline else revision.source
        return RevisionView(
            revision=revision,
            diff_to_baseline=edits.unified_diff(baseline_source, revision.source),
            stats_to_baseline=edits.diff_stats(baseline_source, revision.source),
            children=self.meta.list_children(revision.id),
            run_ids=self.run_ids_of_revision(revision.id),
            equivalent_to=self._equivalents(revision.track_id, revision),
        )

    def list_revisions(
        self,
        principal: Principal,
        track_id: str,
        author_agent_id: str | None,
        page_size: int | None,
        page_token: str,
    ) -> Page[Revision]:
        self._track(track_id)
        items, token = self.meta.list_revisions(
            track_id, author_agent_id or None, self._page_size(page_size), page_token
        )
        return Page(items=items, next_page_token=token)

    def list_proposals(
        self,
        principal: Principal,
        track_id: str,
        author_agent_id: str | None,
        page_size: int | None,
        page_token: str,
    ) -> Page[Proposal]:
        self._track(track_id)
        items, token = self.meta.list_proposals(
            track_id, author_agent_id or None, self._page_size(page_size), page_token
        )
        return Page(items=items, next_page_token=token)

    # ======================================================================
    # Runs
    # ======================================================================

    def launch_run(self, principal: Principal, req: LaunchRunRequest) -> Run:
        """Quota-checked (RESOURCE_EXHAUSTED with retry_after_s); idempotent by request_id."""
        found, reserved = self._replayed(principal, "run", req.request_id, self.meta.get_run)
        if found is not None:
            return found
        track = self._track(req.track_id)
        revision = self._revision(req.revision_id or track.head_revision)
        if not self._on_track(revision, track):
            raise InvalidArgument(
                "the revision belongs to another track",
                details={
                    "field": "revision_id",
                    "revision_id": revision.id,
                    "revision_track_id": revision.track_id,
                    "track_id": track.id,
                },
            )
        if req.seed is not None and not 0 <= req.seed <= MAX_SEED:
            raise InvalidArgument(
                f"seed must be 0 to {MAX_SEED}", details={"field": "seed", "value": req.seed}
            )
        agent = self._agent(principal.agent_id)
        self._check_run_quota(agent, track)
        run_id = reserved or ids.new_id("run")
        if reserved is None:
            found, run_id = self._reserve(
                principal, "run", req.request_id, run_id, self.meta.get_run
            )
            if found is not None:
                return found
        seed = req.seed if req.seed is not None else secrets.randbelow(MAX_SEED)
        try:
            return self._new_run(
                run_id=run_id,
                track=track,
                revision_id=revision.id,
                agent_id=principal.agent_id,
                purpose=RunPurpose.EXPERIMENT,
                seed=seed,
                request_id=req.request_id,
            )
        except AlreadyExists:  # a concurrent retry of the same request stored it first
            return self._run(run_id)

    def get_run(self, principal: Principal, run_id: str) -> Run:
        return self._run(run_id)

    def list_runs(
        self,
        principal: Principal,
        track_id: str,
        state: RunState | None,
        page_size: int | None,
        page_token: str,
    ) -> Page[Run]:
        self._track(track_id)
        items, token = self.meta.list_runs(
            track_id=track_id,
            states=[state] if state is not None else None,
            page_size=self._page_size(page_size),
            page_token=page_token,
        )
        return Page(items=items, next_page_token=token)

    def cancel_run(self, principal: Principal, run_id: str) -> Run:
        """FAILED_PRECONDITION for a run already finished. Owner or admin only."""
        run = self._run(run_id)
        if run.agent_id != principal.agent_id and not principal.is_admin:
            raise PermissionDenied(
                "only the agent that launched a run (or an admin) may cancel it",
                details={"run_id": run.id, "owner_agent_id": run.agent_id},
            )
        while True:
            if run.state in TERMINAL_RUN_STATES:
                raise self._illegal_transition(run, RunState.CANCELLED)
            now = utcnow()
            updated = self._transition(
                run,
                RunState.CANCELLED,
                end_time=now,
                failure_message=f"cancelled by {principal.agent_id}",
            )
            if updated is not None:
                break
            run = self._run(run_id)  # it moved under us: decide on the fresh state
        try:
            self.dispatcher.cancel(updated)
        except Exception as exc:
            # The run is CANCELLED in the store; the worker's next heartbeat learns it.
            log.warning("run.cancel_signal_failed", run_id=run_id, error=str(exc))
        if run.state is RunState.RUNNING and run.start_time is not None:
            elapsed = (now - run.start_time).total_seconds()
            self.meta.add_compute_seconds(run.agent_id, max(0.0, min(elapsed, run.time_budget_s)))
        self._after_run_finished(updated)
        return updated

    async def watch_run(
        self, principal: Principal, run_id: str, after_seq: int = 0
    ) -> AsyncIterator[RunEvent]:
        """Events with seq > after_seq, then new ones as they happen; ends after the
        terminal STATE event."""
        if after_seq < 0:
            raise InvalidArgument(
                "after_seq must not be negative", details={"field": "after_seq", "value": after_seq}
            )
        await asyncio.to_thread(self._run, run_id)
        while True:
            events = await asyncio.to_thread(self.meta.list_events, run_id, after_seq, 500)
            for event in events:
                yield event
                after_seq = event.seq
                if (
                    event.type is RunEventType.STATE
                    and event.data.get("state") in TERMINAL_RUN_STATES
                ):
                    return
            if events:
                continue
            run = await asyncio.to_thread(self._run, run_id)
            if run.state in TERMINAL_RUN_STATES:
                # The terminal event was before after_seq (a resumed watch): drain and end.
                for event in await asyncio.to_thread(self.meta.list_events, run_id, after_seq, 500):
                    yield event
                return
            await asyncio.sleep(self.settings.watch_poll_s)

    def get_metrics(
        self,
        principal: Principal,
        run_id: str,
        since_step: int | None,
        names: list[str] | None,
        limit: int | None = None,
    ) -> MetricSeries:
        if since_step is not None and not 0 <= since_step <= MAX_STEP:
            raise InvalidArgument(
                f"since_step must be 0 to {MAX_STEP}",
                details={"field": "since_step", "value": str(since_step)},
            )
        if limit is not None and not 0 <= limit <= MAX_STEP:
            raise InvalidArgument(
                f"limit must be 0 to {MAX_STEP}",
                details={"field": "limit", "value": str(limit)},
            )
        self._run(run_id)
        cap = min(limit or self.settings.max_metric_points, self.settings.max_metric_points)
        wanted = [n for n in names or [] if n] or None
        points = self.meta.get_metrics(run_id, since_step, wanted, cap + 1)
        next_since: int | None = None
        if len(points) > cap:
            cut_step = points[cap].step
            kept = [p for p in points[:cap] if p.step < cut_step]
            if kept:
                # End on a whole step so continuing from `next_since_step` repeats nothing.
                points, next_since = kept, cut_step
            else:  # a single step has more names than the limit: move past it
                points, next_since = points[:cap], cut_step + 1
        return MetricSeries(run_id=run_id, points=points, next_since_step=next_since)

    def get_run_logs(
        self, principal: Principal, run_id: str, tail_bytes: int | None = None
    ) -> RunLogs:
        run = self._run(run_id)
        if tail_bytes is not None and tail_bytes < 0:
            raise InvalidArgument(
                "tail_bytes must not be negative",
                details={"field": "tail_bytes", "value": tail_bytes},
            )
        ref = run.summary.artifacts.get("log") if run.summary else None
        data: bytes | None = None
        if ref is not None:
            try:
                data = self.artifacts.get_bytes(ref.key)
            except NotFound:
                data = None  # fall back to what was streamed
            except ArtifactIntegrityError as exc:
                raise LoopyError(
                    "the stored log does not match its sha256",
                    details={"run_id": run.id, "key": ref.key, "error": str(exc)},
                ) from exc
        if data is None:
            data = "".join(
                str(e.data.get("text", ""))
                for e in self._all_events(run.id)
                if e.type is RunEventType.LOG
            ).encode("utf-8")
        limit = min(tail_bytes or self.settings.max_log_bytes, self.settings.max_log_bytes)
        truncated = len(data) > limit
        if truncated:
            data = data[-limit:]
        return RunLogs(
            run_id=run.id, text=data.decode("utf-8", errors="replace"), truncated=truncated
        )

    def _all_events(self, run_id: str) -> Iterator[RunEvent]:
        after = 0
        while True:
            events = self.meta.list_events(run_id, after, 1000)
            if not events:
                return
            yield from events
            after = events[-1].seq

    def _artifact_ref(self, run_id: str, name: str) -> Any:
        run = self._run(run_id)
        artifacts = run.summary.artifacts if run.summary else {}
        ref = artifacts.get(name)
        if ref is None:
            raise NotFound(
                f"run {run_id} has no artifact {name!r}",
                details={"run_id": run_id, "artifact": name, "available": sorted(artifacts)},
            )
        return ref

    def get_artifact_url(self, principal: Principal, run_id: str, name: str) -> str | None:
        """Presigned URL of a run artifact ("source", "log", "checkpoint"), or None when
        the store serves bytes through the API instead (see open_artifact)."""
        ref = self._artifact_ref(run_id, name)
        return self.artifacts.presigned_url(ref.key)

    def open_artifact(self, principal: Principal, run_id: str, name: str) -> tuple[Any, int, str]:
        """(chunk iterator, size, sha256) of a run artifact, verified while streaming."""
        ref = self._artifact_ref(run_id, name)
        return self.artifacts.open(ref.key), ref.size_bytes, ref.sha256

    def run_ids_of_revision(self, revision_id: str) -> list[str]:
        """Every run of the revision on any track, oldest first."""
        return [r.id for r in reversed(self._all_runs(revision_id=revision_id))]

    # ======================================================================
    # Evaluation and decisions
    # ======================================================================

    def evaluate(self, principal: Principal, run_id: str, req: EvaluateRequest) -> Evaluation:
        """Paired, sequential evaluation (service.domain.decisions): candidate and reference
        replicate i share a seed and are dispatched together, a round of pairs at a time,
        until the e-value is decisive or max_pairs is reached. Equivalent code (same AST)
        answers EQUIVALENT at once, without a run."""
        found, reserved = self._replayed(
            principal, "evaluation", req.request_id, self.meta.get_evaluation
        )
        if found is not None:
            return found
        run = self._run(run_id)
        if run.state in (RunState.FAILED, RunState.CANCELLED):
            raise FailedPrecondition(
                f"run {run.id} is {run.state.value}; only a queued, running or succeeded run "
                "can be evaluated",
                details={
                    "run_id": run.id,
                    "state": run.state.value,
                    "failure_reason": run.failure_reason.value if run.failure_reason else None,
                },
            )
        track = self._track(run.track_id)
        per_round = req.replicates if req.replicates is not None else track.policy.replicates
        if not 1 <= per_round <= self.settings.max_replicates:
            raise InvalidArgument(
                f"replicates (pairs per round) must be 1 to {self.settings.max_replicates}",
                details={"field": "replicates", "value": per_round},
            )
        max_pairs = req.max_pairs if req.max_pairs is not None else track.policy.max_pairs
        max_pairs = max(max_pairs, per_round) if req.max_pairs is None else max_pairs
        if not per_round <= max_pairs <= self.settings.max_pairs:
            raise InvalidArgument(
                f"max_pairs must be replicates ({per_round}) to {self.settings.max_pairs}",
                details={"field": "max_pairs", "value": max_pairs},
            )
        reference_run: Run | None = None
        if req.reference_run_id:
            reference_run = self._run(req.reference_run_id)
            if reference_run.track_id != track.id:
                raise InvalidArgument(
                    "the reference run is on another track",
                    details={
                        "field": "reference_run_id",
                        "run_id": reference_run.id,
                        "track_id": reference_run.track_id,
                    },
                )
            if reference_run.state in (RunState.FAILED, RunState.CANCELLED):
                raise FailedPrecondition(
                    f"reference run {reference_run.id} is {reference_run.state.value}",
                    details={
                        "reference_run_id": reference_run.id,
                        "state": reference_run.state.value,
                    },
                )
            reference_revision = reference_run.revision_id
        else:
            reference_revision = track.head_revision
        if reference_revision == run.revision_id:
            raise FailedPrecondition(
                "the run's revision is the reference itself; there is nothing to compare",
                details={"run_id": run.id, "revision_id": run.revision_id},
            )
        candidate_rev = self._revision(run.revision_id)
        reference_rev = self._revision(reference_revision)
        equivalent = self._revision_ast_hash(candidate_rev) == self._revision_ast_hash(
            reference_rev
        ) and bool(self._revision_ast_hash(candidate_rev))
        # Code equivalent to a revision already judged against this reference: its verdict.
        earlier = (
            None if equivalent else self._judged_twin(track, candidate_rev, reference_revision)
        )
        agent = self._agent(principal.agent_id)
        twin: Run | None = None
        first_round_extra = 0
        if not equivalent and earlier is None:
            twin = (
                reference_run
                if reference_run is not None and reference_run.seed == run.seed
                else self._reusable_reference(track, reference_revision, run)
            )
            # The first round fits the agent's free slots (at least pair 0's twin); later
            # rounds replace the finished runs of this evaluation.
            needed = 0 if twin is not None else 1
            slots = max(0, agent.quota.max_queued_runs - self.meta.count_active_runs(agent.id))
            self._check_compute_quota(agent)
            if slots < needed:
                self._check_run_quota(agent, track, needed=needed)
            first_round_extra = min(per_round - 1, (slots - needed) // 2)

        eval_id = reserved or ids.new_id("eval")
        if reserved is None:
            found, eval_id = self._reserve(
                principal, "evaluation", req.request_id, eval_id, self.meta.get_evaluation
            )
            if found is not None:
                return found
        now = utcnow()
        evaluation = Evaluation(
            id=eval_id,
            run_id=run.id,
            track_id=track.id,
            state=EvaluationState.PENDING,
            candidate=sample_stats(run.revision_id, []),
            reference=sample_stats(reference_revision, []),
            delta=None,
            noise_std=None,
            z_score=None,
            verdict=None,
            diff_stats=edits.diff_stats(reference_rev.source, candidate_rev.source),
            replicate_run_ids=[],
            promoted=False,
            failure_message=None,
            create_time=now,
            finish_time=None,
            request_id=req.request_id,
            agent_id=principal.agent_id,
            method=PAIRED_METHOD,
            max_pairs=max_pairs,
            pairs_per_round=per_round,
        )
        if equivalent:
            evaluation.state = EvaluationState.DONE
            evaluation.verdict = Verdict.EQUIVALENT
            evaluation.equivalent_to = reference_revision
            evaluation.finish_time = now
            evaluation.method = "AST equivalence"
            evaluation.reason = (
                "the candidate's code is the reference's once comments, docstrings and "
                "formatting are dropped: no run can tell them apart"
            )
            self.meta.put_evaluation(evaluation)
            log.info("evaluation.equivalent", evaluation_id=eval_id, run_id=run.id)
            return evaluation
        if earlier is not None:
            assert earlier.verdict is not None
            evaluation.state = EvaluationState.DONE
            evaluation.verdict = Verdict.EQUIVALENT
            evaluation.equivalent_to = earlier.candidate.revision_id
            evaluation.finish_time = now
            evaluation.method = "AST equivalence"
            evaluation.reason = (
                f"the candidate's code is revision {earlier.candidate.revision_id[:12]}'s once "
                f"comments, docstrings and formatting are dropped; evaluation {earlier.id} "
                f"of that revision against this reference said {earlier.verdict.value}"
            )
            self.meta.put_evaluation(evaluation)
            log.info("evaluation.equivalent", evaluation_id=eval_id, earlier=earlier.id)
            return evaluation

        # Draw this test's level from the track's false-discovery budget (LORD++), using
        # the KEEPs known now (asynchronous LORD: pending tests count as non-discoveries).
        index = self.meta.allocate_fdr_test(track.id)
        discoveries = [
            e.fdr_test_index
            for e in self.meta.list_evaluations(track.id)
            if e.fdr_test_index is not None
            and e.state is EvaluationState.DONE
            and e.verdict is Verdict.KEEP
        ]
        evaluation.fdr_test_index = index
        evaluation.level = lord_level(index, discoveries, track.policy.fdr_alpha)
        evaluation.threshold = 1.0 / evaluation.level

        used_seeds = {
            r.seed
            for rev in (run.revision_id, reference_revision)
            for r in self._all_runs(track_id=track.id, revision_id=rev)
        }
        # Pair 0 is the evaluated run itself, with a reference of the same seed: an earlier
        # one when the probes say the machine ran at the same speed, else a fresh one now.
        pairs = [
            EvalPair(
                seed=run.seed,
                candidate_run_id=run.id,
                reference_run_id=twin.id if twin else ids.new_id("run"),
                reused_reference=twin is not None,
            )
        ]
        pairs += self._new_pairs(first_round_extra, used_seeds)
        evaluation.pairs = pairs
        evaluation.sandbox = sandbox_of([run, *([twin] if twin is not None else [])])
        evaluation.candidate.run_ids = [p.candidate_run_id for p in pairs]
        evaluation.reference.run_ids = [p.reference_run_id for p in pairs]
        evaluation.replicate_run_ids = self._launch_ids(pairs, run.id)
        evaluation.reason = f"round 1: {len(pairs)} pair(s) dispatched"
        # Stored before its replicates exist, so a replicate finishing at once finds it.
        self.meta.put_evaluation(evaluation)
        self._launch_pairs(track, evaluation, pairs, run.id)
        log.info(
            "evaluation.created",
            evaluation_id=eval_id,
            run_id=run.id,
            pairs=len(pairs),
            level=evaluation.level,
        )
        return self._try_finish_evaluation(evaluation)

    def _judged_twin(
        self, track: Track, candidate: Revision, reference_revision: str
    ) -> Evaluation | None:
        """The newest decided evaluation, against this reference, of a revision whose code
        is behaviourally identical to the candidate's."""
        twins = set(self._equivalents(track.id, candidate))
        if not twins:
            return None
        decided = (Verdict.KEEP, Verdict.DISCARD, Verdict.INCONCLUSIVE)
        for evaluation in reversed(self.meta.list_evaluations(track.id)):
            if (
                evaluation.candidate.revision_id in twins
                and evaluation.reference.revision_id == reference_revision
                and evaluation.state is EvaluationState.DONE
                and evaluation.verdict in decided
            ):
                return evaluation
        return None

    def _reusable_reference(self, track: Track, reference_revision: str, run: Run) -> Run | None:
        """A finished reference run with the candidate's seed whose machine speed matches
        the candidate's (both probes known): reusing it costs no run and no confounding."""
        if run.state is not RunState.SUCCEEDED or run.summary is None:
            return None
        for ref in self._all_runs(
            track_id=track.id, revision_id=reference_revision, states=[RunState.SUCCEEDED]
        ):
            if (
                ref.seed == run.seed
                and ref.summary is not None
                and _finite(ref.summary.val_bpb)
                and speeds_match(
                    run.summary.speed_probe, ref.summary.speed_probe, track.policy.speed_tolerance
                )
            ):
                return ref
        return None

    def _new_pairs(self, count: int, used_seeds: set[int]) -> list[EvalPair]:
        return [
            EvalPair(
                seed=self._free_seed(used_seeds),
                candidate_run_id=ids.new_id("run"),
                reference_run_id=ids.new_id("run"),
            )
            for _ in range(max(0, count))
        ]

    @staticmethod
    def _launch_ids(pairs: list[EvalPair], evaluated_run_id: str) -> list[str]:
        """The runs this evaluation launches, in dispatch order (candidate, reference, ...)."""
        launched: list[str] = []
        for pair in pairs:
            if pair.candidate_run_id != evaluated_run_id:
                launched.append(pair.candidate_run_id)
            if not pair.reused_reference:
                launched.append(pair.reference_run_id)
        return launched

    def _launch_pairs(
        self, track: Track, evaluation: Evaluation, pairs: list[EvalPair], evaluated_run_id: str
    ) -> None:
        """Dispatch each pair's two runs back to back, so they run close in time."""
        for pair in pairs:
            sides = (
                (pair.candidate_run_id, evaluation.candidate.revision_id, True),
                (pair.reference_run_id, evaluation.reference.revision_id, False),
            )
            for run_id, revision_id, is_candidate in sides:
                if (is_candidate and run_id == evaluated_run_id) or (
                    not is_candidate and pair.reused_reference
                ):
                    continue
                try:
                    self._new_run(
                        run_id=run_id,
                        track=track,
                        revision_id=revision_id,
                        agent_id=evaluation.agent_id,
                        purpose=RunPurpose.REPLICATE,
                        seed=pair.seed,
                        evaluation_id=evaluation.id,
                    )
                except Unavailable:
                    # The run is stored FAILED; the pair is incomplete, the evaluation goes on.
                    log.warning("evaluation.replicate_not_queued", run_id=run_id)

    def get_evaluation(self, principal: Principal, run_id: str, evaluation_id: str) -> Evaluation:
        evaluation = self.meta.get_evaluation(evaluation_id)
        if evaluation is None or evaluation.run_id != run_id:
            raise NotFound(
                f"evaluation {evaluation_id!r} of run {run_id!r} not found",
                details={"run_id": run_id, "evaluation_id": evaluation_id},
            )
        if evaluation.state is EvaluationState.PENDING:
            # Cheap, and heals a completion that raced the evaluation's creation.
            evaluation = self._try_finish_evaluation(evaluation)
        return evaluation

    def _try_finish_evaluation(self, evaluation: Evaluation) -> Evaluation:
        """Once every run of the rounds so far is terminal: decide, or dispatch the next
        round. Otherwise unchanged. Conditional on the stored version, so two processes
        looking at once never dispatch a round twice."""
        if evaluation.state is not EvaluationState.PENDING:
            return evaluation
        runs: dict[str, Run | None] = {}
        for pair in evaluation.pairs:
            for run_id in (pair.candidate_run_id, pair.reference_run_id):
                run = self.meta.get_run(run_id)
                if run is not None and run.state not in TERMINAL_RUN_STATES:
                    return evaluation
                runs[run_id] = run
        with self._finish_lock:
            current = self.meta.get_evaluation(evaluation.id)
            if current is None or current.state is not EvaluationState.PENDING:
                return current or evaluation
            track = self._track(current.track_id)
            updated, next_pairs = self._look(current, track, runs)
            if not self.meta.replace_evaluation(updated, current.version):
                return self.meta.get_evaluation(evaluation.id) or updated
            updated.version = current.version + 1
        if next_pairs:
            self._launch_pairs(track, updated, next_pairs, updated.run_id)
            log.info("evaluation.round", evaluation_id=updated.id, pairs=len(updated.pairs))
            return updated
        if updated.verdict is Verdict.KEEP and track.policy.auto_promote:
            updated = self._auto_promote(track, updated, runs)
        log.info(
            "evaluation.finished",
            evaluation_id=updated.id,
            state=updated.state.value,
            verdict=updated.verdict.value if updated.verdict else None,
            pairs=updated.pairs_used,
        )
        return updated

    def _look(
        self, current: Evaluation, track: Track, runs: dict[str, Run | None]
    ) -> tuple[Evaluation, list[EvalPair]]:
        """The evaluation after looking at its finished pairs, and the next round (if any)."""
        done = msgspec.structs.replace(
            current, pairs=[msgspec.structs.replace(p) for p in current.pairs]
        )

        def value(run: Run | None) -> float | None:
            if run is None or run.state is not RunState.SUCCEEDED or run.summary is None:
                return None
            return run.summary.val_bpb if _finite(run.summary.val_bpb) else None

        def probe(run: Run | None) -> float | None:
            return run.summary.speed_probe if run is not None and run.summary else None

        diffs: list[float] = []
        complete: list[EvalPair] = []
        for pair in done.pairs:
            cand, ref = runs.get(pair.candidate_run_id), runs.get(pair.reference_run_id)
            pair.candidate_speed, pair.reference_speed = probe(cand), probe(ref)
            c, r = value(cand), value(ref)
            pair.difference = None if c is None or r is None else r - c
            if pair.difference is not None:
                diffs.append(pair.difference)
                complete.append(pair)
        cand_runs = [r for r in (runs.get(p.candidate_run_id) for p in done.pairs) if r]
        ref_runs = [r for r in (runs.get(p.reference_run_id) for p in done.pairs) if r]
        done.candidate = sample_stats(done.candidate.revision_id, cand_runs)
        done.candidate.run_ids = [p.candidate_run_id for p in done.pairs]
        done.reference = sample_stats(done.reference.revision_id, ref_runs)
        done.reference.run_ids = [p.reference_run_id for p in done.pairs]
        done.pairs_used = len(diffs)
        done.sandbox = sandbox_of(cand_runs + ref_runs)
        done.speed = speed_check(complete, cand_runs, ref_runs, track.policy.speed_tolerance)
        if diffs:
            done.delta = statistics.fmean(diffs)
            done.noise_std = sample_std(diffs)
            if done.noise_std:
                done.z_score = done.delta / (done.noise_std / math.sqrt(len(diffs)))
            interval = t_interval(diffs)
            done.interval_low, done.interval_high = interval if interval else (None, None)

        agent = self.meta.get_agent(done.agent_id)
        out_of_compute = (
            agent is not None and agent.compute_seconds_used >= agent.quota.max_compute_seconds
        )
        pairs_left = 0 if out_of_compute else done.max_pairs - len(done.pairs)
        level = done.level or track.policy.fdr_alpha
        decision = sequential_decision(diffs, level, track.policy, pairs_left=pairs_left)
        done.e_value = decision.e_value
        done.threshold = decision.threshold

        def finish(state: EvaluationState, verdict: Verdict | None, reason: str) -> None:
            done.state, done.verdict, done.reason = state, verdict, reason
            done.finish_time = utcnow()
            if state is EvaluationState.FAILED:
                done.failure_message = reason

        if done.speed.confounded:
            s = done.speed
            finish(
                EvaluationState.DONE,
                Verdict.CONFOUNDED,
                f"the candidate ran at {s.speed_ratio:.3f}x the reference's machine speed "
                f"(noise {s.ratio_noise:.3f} in log ratio, tolerance {s.tolerance:.0%}); "
                f"steps {s.candidate_steps} vs {s.reference_steps}: evaluate again later",
            )
            return done, []
        if decision.verdict is not None:
            finish(EvaluationState.DONE, decision.verdict, decision.reason)
            return done, []
        cand_failed = all(value(runs.get(p.candidate_run_id)) is None for p in done.pairs)
        ref_failed = all(value(runs.get(p.reference_run_id)) is None for p in done.pairs)
        if not diffs and (cand_failed or ref_failed):
            which, side = (
                ("candidate", done.candidate)
                if cand_failed
                else (
                    "reference",
                    done.reference,
                )
            )
            finish(
                EvaluationState.FAILED,
                None,
                f"no {which} run succeeded, so there is nothing to compare "
                f"(runs: {', '.join(side.run_ids)})",
            )
            return done, []
        next_pairs = self._new_pairs(
            min(done.pairs_per_round or 1, pairs_left),
            {p.seed for p in done.pairs},
        )
        done.pairs = done.pairs + next_pairs
        done.candidate.run_ids += [p.candidate_run_id for p in next_pairs]
        done.reference.run_ids += [p.reference_run_id for p in next_pairs]
        done.replicate_run_ids = done.replicate_run_ids + self._launch_ids(next_pairs, done.run_id)
        done.reason = f"{decision.reason}; {len(next_pairs)} more pair(s) dispatched"
        return done, next_pairs

    def _auto_promote(
        self, track: Track, evaluation: Evaluation, runs: dict[str, Run | None]
    ) -> Evaluation:
        best = self._best_run([r for r in (runs.get(i) for i in evaluation.candidate.run_ids) if r])
        moved = self._move_head(
            track,
            expected=evaluation.reference.revision_id,
            new_head=evaluation.candidate.revision_id,
            run_id=best.id if best else evaluation.run_id,
            evaluation_id=evaluation.id,
            agent_id=evaluation.agent_id,
            forced=False,
            reason="auto_promote: KEEP",
        )
        if moved is None:
            return evaluation
        promoted = msgspec.structs.replace(evaluation, promoted=True)
        if self.meta.replace_evaluation(promoted, evaluation.version):
            promoted.version = evaluation.version + 1
            return promoted
        return evaluation

    @staticmethod
    def _best_run(runs: list[Run]) -> Run | None:
        scored = [
            r
            for r in runs
            if r.state is RunState.SUCCEEDED and r.summary and _finite(r.summary.val_bpb)
        ]
        return min(
            scored, key=lambda r: r.summary.val_bpb or 0.0 if r.summary else 0.0, default=None
        )

    def _move_head(
        self,
        track: Track,
        *,
        expected: str,
        new_head: str,
        run_id: str | None,
        evaluation_id: str | None,
        agent_id: str,
        forced: bool,
        reason: str,
    ) -> Track | None:
        """Compare-and-swap the head and record the change in the same write."""
        change = HeadChange(
            id=ids.new_id("head"),
            track_id=track.id,
            head_version=0,  # the store sets the version the swap produced
            from_revision=expected,
            to_revision=new_head,
            run_id=run_id,
            evaluation_id=evaluation_id,
            agent_id=agent_id,
            forced=forced,
            reason=reason,
            time=utcnow(),
        )
        return self.meta.compare_and_set_head(track.id, expected, new_head, run_id, change=change)

    def _keep_evaluation(self, track: Track, run: Run, evaluation_id: str | None) -> Evaluation:
        """The KEEP evaluation of the run's revision against the current head, or the
        refusal that says what is missing."""
        if evaluation_id:
            evaluation = self.meta.get_evaluation(evaluation_id)
            if evaluation is None or evaluation.track_id != track.id:
                raise NotFound(
                    f"evaluation {evaluation_id!r} not found on track {track.id}",
                    details={"evaluation_id": evaluation_id, "track_id": track.id},
                )
            candidates = [evaluation]
        else:
            candidates = [
                e
                for e in reversed(self.meta.list_evaluations(track.id))
                if e.candidate.revision_id == run.revision_id
            ]
        keeps = [
            e
            for e in candidates
            if e.candidate.revision_id == run.revision_id
            and e.state is EvaluationState.DONE
            and e.verdict is Verdict.KEEP
        ]
        for evaluation in keeps:
            if evaluation.reference.revision_id == track.head_revision:
                return evaluation
        seen = [
            {
                "evaluation_id": e.id,
                "state": e.state.value,
                "verdict": e.verdict.value if e.verdict else None,
                "reference_revision": e.reference.revision_id,
            }
            for e in candidates[:20]
        ]
        if keeps:
            raise Conflict(
                "the KEEP was against an older head; the head has moved since: rebase the "
                "edit onto the current head and evaluate against it",
                details={
                    "track_id": track.id,
                    "current_head": track.head_revision,
                    "expected_head": keeps[0].reference.revision_id,
                    "head_version": track.head_version,
                    "evaluations": seen,
                },
            )
        raise FailedPrecondition(
            f"revision {run.revision_id[:12]} has no finished KEEP evaluation against the "
            "current head; evaluate the run (Evaluate) and promote it once the verdict is KEEP",
            details={
                "run_id": run.id,
                "revision_id": run.revision_id,
                "current_head": track.head_revision,
                "evaluations": seen,
                "admin_override": "an admin may pass force=true with a reason",
            },
        )

    def promote_run(self, principal: Principal, track_id: str, req: PromoteRequest) -> Track:
        """Moves the head only on evidence: a DONE evaluation with verdict KEEP whose
        reference is the current head (FailedPrecondition otherwise). An admin may force it
        with a reason. A compare-and-swap (Conflict when the head moved); every change is
        recorded (list_head_changes)."""
        track = self._track(track_id)
        run = self._run(req.run_id)
        if run.track_id != track.id:
            raise InvalidArgument(
                "the run belongs to another track",
                details={"field": "run_id", "run_id": run.id, "run_track_id": run.track_id},
            )
        if run.state is not RunState.SUCCEEDED:
            raise FailedPrecondition(
                f"only a SUCCEEDED run can be promoted; run {run.id} is {run.state.value}",
                details={"run_id": run.id, "state": run.state.value},
            )
        reason = req.reason.strip()
        if len(reason) > self.settings.max_description_chars:
            raise InvalidArgument(
                f"reason is over {self.settings.max_description_chars} characters",
                details={"field": "reason", "length": len(reason)},
            )
        if req.force:
            self._require_admin(principal, "force a promotion")
            if not reason:
                raise InvalidArgument(
                    "a forced promotion needs a reason (it is recorded in the head changes)",
                    details={"field": "reason"},
                )
        if run.revision_id == track.head_revision:
            return self._with_budget(track)  # already the head: promotion is idempotent
        revision = self._revision(run.revision_id)
        evaluation_id: str | None
        if req.force:
            expected = req.expected_head_revision or track.head_revision
            evaluation_id = req.evaluation_id or None
        else:
            evaluation = self._keep_evaluation(track, run, req.evaluation_id)
            expected = evaluation.reference.revision_id
            evaluation_id = evaluation.id
            if req.expected_head_revision and req.expected_head_revision != expected:
                raise Conflict(
                    "expected_head_revision is not the head the KEEP was measured against",
                    details={
                        "track_id": track.id,
                        "current_head": track.head_revision,
                        "expected_head": req.expected_head_revision,
                        "evaluated_against": expected,
                        "head_version": track.head_version,
                    },
                )
            reason = reason or f"KEEP (evaluation {evaluation.id})"
        updated = self._move_head(
            track,
            expected=expected,
            new_head=revision.id,
            run_id=run.id,
            evaluation_id=evaluation_id,
            agent_id=principal.agent_id,
            forced=req.force,
            reason=reason,
        )
        if updated is None:
            current = self._track(track.id)
            raise Conflict(
                "the track head moved since this revision's base; rebase onto the current head "
                "(propose the edit again) and evaluate against it",
                details={
                    "track_id": track.id,
                    "current_head": current.head_revision,
                    "expected_head": expected,
                    "head_version": current.head_version,
                },
            )
        log.info(
            "track.promoted",
            track_id=track.id,
            revision_id=revision.id,
            run_id=run.id,
            forced=req.force,
            evaluation_id=evaluation_id,
        )
        return self._with_budget(updated)

    def list_head_changes(
        self, principal: Principal, track_id: str, page_size: int | None, page_token: str
    ) -> Page[HeadChange]:
        """Every move of the track's head, oldest first: who, when, on which evaluation,
        or forced and why."""
        self._track(track_id)
        items, token = self.meta.list_head_changes(track_id, self._page_size(page_size), page_token)
        return Page(items=items, next_page_token=token)

    # ======================================================================
    # Leaderboard and history
    # ======================================================================

    def _promotions(self, track: Track) -> dict[str, datetime]:
        """Revisions that were made head by a recorded promotion -> when first."""
        promoted: dict[str, datetime] = {}
        token = ""
        while True:
            page, token = self.meta.list_head_changes(track.id, 1000, token)
            for change in page:
                if change.from_revision is not None:
                    promoted.setdefault(change.to_revision, change.time)
            if not token:
                return promoted

    def get_leaderboard(
        self, principal: Principal, track_id: str, limit: int | None = None
    ) -> Leaderboard:
        track = self._track(track_id)
        size = self._page_size(limit)
        promoted = self._promotions(track)
        by_revision: dict[str, list[Run]] = {}
        for run in self._all_runs(track_id=track.id, states=[RunState.SUCCEEDED]):
            if run.summary and _finite(run.summary.val_bpb):
                by_revision.setdefault(run.revision_id, []).append(run)
        rows = []
        for revision_id, runs in by_revision.items():
            best = self._best_run(runs)
            assert best is not None and best.summary is not None
            values = [
                r.summary.val_bpb for r in runs if r.summary and r.summary.val_bpb is not None
            ]
            rows.append((best.summary.val_bpb, statistics.fmean(values), revision_id, best, runs))
        rows.sort(key=lambda row: (row[0], row[1], row[2]))
        harness = self.meta.get_harness(track.harness_id)
        entries = []
        for rank, (best_value, mean_value, revision_id, best, runs) in enumerate(rows[:size], 1):
            revision = self.meta.get_revision(revision_id)
            entries.append(
                LeaderboardEntry(
                    rank=rank,
                    revision_id=revision_id,
                    author_agent_id=revision.author_agent_id if revision else "",
                    description=revision.description if revision else "",
                    best_run_id=best.id,
                    best_value=float(best_value or 0.0),
                    mean_value=mean_value,
                    runs=len(runs),
                    is_head=revision_id == track.head_revision,
                    kept=revision_id in promoted,
                    sandbox=sandbox_of(runs),
                )
            )
        return Leaderboard(
            track_id=track.id, metric=harness.metric if harness else "val_bpb", entries=entries
        )

    def _finished_runs(self, track: Track) -> list[Run]:
        """Terminal runs, in the order they ended."""
        runs = self._all_runs(track_id=track.id, states=sorted(TERMINAL_RUN_STATES))
        return sorted(runs, key=lambda r: (r.end_time or r.create_time, r.id))

    def results_tsv(self, principal: Principal, track_id: str) -> str:
        """autoresearch-style results.tsv: run, revision, val_bpb, memory, status, description.

        status: `baseline` (the track's starting code), `keep` (its revision was promoted
        to head, as recorded when it happened: not recomputed from today's head),
        `discard` (succeeded, never promoted), `crash` (failed: val_bpb and memory are
        empty, the failure reason is in `description`), `cancelled` (likewise empty).
        """
        track = self._track(track_id)
        promoted = self._promotions(track)
        descriptions: dict[str, str] = {}
        lines = ["run_id\trevision\tval_bpb\tmemory_gb\tstatus\tdescription"]
        for run in self._finished_runs(track):
            if run.revision_id not in descriptions:
                revision = self.meta.get_revision(run.revision_id)
                descriptions[run.revision_id] = " ".join(
                    (revision.description if revision else "").split()
                )
            summary = run.summary
            description = descriptions[run.revision_id]
            if run.state is RunState.SUCCEEDED and summary and _finite(summary.val_bpb):
                assert summary.val_bpb is not None
                value, memory = f"{summary.val_bpb:.6f}", f"{summary.peak_memory_mb / 1024:.1f}"
                if run.revision_id == track.baseline_revision:
                    status = "baseline"
                else:
                    status = "keep" if run.revision_id in promoted else "discard"
            else:
                # Never a 0.0 metric: a run without a result has no value at all.
                value = memory = ""
                status = "cancelled" if run.state is RunState.CANCELLED else "crash"
                why = run.failure_reason.value if run.failure_reason else run.state.value
                description = f"[{why}] {description}".strip()
            lines.append(
                f"{run.id}\t{run.revision_id[:12]}\t{value}\t{memory}\t{status}\t{description}"
            )
        return "\n".join(lines) + "\n"

    def progress_png(self, principal: Principal, track_id: str) -> bytes:
        """One point per revision (in the order its first run finished): the mean of its
        runs with a 95 % t interval; promoted revisions (as recorded when promoted) in
        colour, and the head's value over time as a step line."""
        track = self._track(track_id)
        harness = self.meta.get_harness(track.harness_id)
        metric = harness.metric if harness else "val_bpb"
        points = self._revision_points(track)
        return render_progress_png(f"{track.display_name}: progress", metric, points)

    def _revision_points(self, track: Track) -> list[RevisionPoint]:
        promoted = self._promotions(track)
        values: dict[str, list[float]] = {}
        for run in self._finished_runs(track):
            if run.state is RunState.SUCCEEDED and run.summary and _finite(run.summary.val_bpb):
                assert run.summary.val_bpb is not None
                values.setdefault(run.revision_id, []).append(run.summary.val_bpb)
        points = []
        for index, (revision_id, vals) in enumerate(values.items(), 1):
            interval = t_interval(vals)
            if revision_id == track.baseline_revision:
                status = "baseline"
            else:
                status = "kept" if revision_id in promoted else "discarded"
            points.append(
                RevisionPoint(
                    index=index,
                    revision_id=revision_id,
                    mean=statistics.fmean(vals),
                    low=interval[0] if interval else None,
                    high=interval[1] if interval else None,
                    n=len(vals),
                    status=status,
                    promoted_at=promoted.get(revision_id),
                )
            )
        return points

    # ======================================================================
    # Worker-facing
    # ======================================================================

    def claim_run(self, run_id: str, worker_id: str) -> RunAssignment | None:
        """QUEUED -> RUNNING for this worker. None when the run is not QUEUED any more
        (cancelled, or already claimed by another delivery): the worker then does nothing."""
        run = self._run(run_id)
        if run.state is not RunState.QUEUED:
            return None
        revision = self.meta.get_revision(run.revision_id)
        harness = self.meta.get_harness(run.harness_id)
        if revision is None or harness is None:
            missing = "revision" if revision is None else "harness"
            self._transition(
                run,
                RunState.FAILED,
                failure_reason=FailureReason.INFRASTRUCTURE,
                failure_message=f"the run's {missing} is missing from the metadata store",
                end_time=utcnow(),
            )
            return None
        now = utcnow()
        claimed = self._transition(
            run, RunState.RUNNING, worker_id=worker_id, start_time=now, heartbeat_time=now
        )
        if claimed is None:
            return None
        return RunAssignment(run=claimed, source=revision.source, harness=harness)

    def heartbeat(self, run_id: str, worker_id: str) -> bool:
        """False when the run is no longer RUNNING on this worker (e.g. cancelled): stop it."""
        return self.meta.touch_heartbeat(run_id, worker_id, utcnow())

    def record_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        if not points:
            return
        self._run(run_id)
        self.meta.append_metrics(run_id, points)
        self.meta.append_event(
            run_id, RunEventType.METRICS, {"points": _builtins(points)}, utcnow()
        )

    def record_log(self, run_id: str, text: str) -> None:
        """A chunk of the child's output, as a LOG event for watchers."""
        if text:
            self.meta.append_event(run_id, RunEventType.LOG, {"text": text}, utcnow())

    def complete_run(self, run_id: str, worker_id: str, outcome: RunOutcome) -> Run | None:
        """RUNNING -> SUCCEEDED/FAILED, charges compute seconds, advances pending
        evaluations and calibration. None when the run was already terminal."""
        if outcome.state not in (RunState.SUCCEEDED, RunState.FAILED):
            raise InvalidArgument(
                "a worker reports SUCCEEDED or FAILED",
                details={"field": "state", "value": str(outcome.state)},
            )
        run = self._run(run_id)
        if run.state is not RunState.RUNNING or run.worker_id != worker_id:
            # Cancelled, reaped and re-queued, or finished by another delivery.
            log.info("run.stale_completion", run_id=run_id, state=run.state.value)
            return None
        state, reason, message = outcome.state, outcome.failure_reason, outcome.failure_message
        summary = outcome.summary
        if state is RunState.SUCCEEDED and not (summary and _finite(summary.val_bpb)):
            state, reason = RunState.FAILED, FailureReason.CONTRACT
            message = "the run finished without a finite val_bpb"
        if state is RunState.FAILED and reason is None:
            reason = FailureReason.CRASH
        updated = self._transition(
            run,
            state,
            failure_reason=reason if state is RunState.FAILED else None,
            failure_message=message if state is RunState.FAILED else None,
            summary=summary,
            end_time=utcnow(),
        )
        if updated is None:
            return None
        # Our own failures are not the agent's: no compute charged for them. Otherwise the
        # supervisor's figure: training time, or the wall time of a run it had to kill.
        charge = (summary.compute_seconds or summary.training_seconds) if summary else 0.0
        if charge > 0 and math.isfinite(charge) and reason is not FailureReason.INFRASTRUCTURE:
            self.meta.add_compute_seconds(run.agent_id, charge)
        self._after_run_finished(updated)
        return updated

    def release_run(self, run_id: str, worker_id: str, reason: str) -> Run | None:
        """RUNNING (on this worker) -> QUEUED with the same attempt, published again:
        the worker is stopping or could not reach a store, neither the run's fault."""
        run = self._run(run_id)
        if run.state is not RunState.RUNNING or run.worker_id != worker_id:
            return None
        released = self._transition(
            run, RunState.QUEUED, worker_id=None, start_time=None, heartbeat_time=None
        )
        if released is None:
            return None
        log.info("run.released", run_id=run.id, worker_id=worker_id, reason=reason)
        self._publish(released)
        return released

    def requeue_unclaimed_runs(self) -> list[Run]:
        """Publish again every QUEUED run whose last publish is older than
        `requeue_after_s` (or that was never published): its message was lost."""
        cutoff = utcnow() - timedelta(seconds=self.settings.requeue_after_s)
        published = []
        for run in self.meta.list_unclaimed_runs(cutoff):
            if self._publish(run):
                log.warning("run.republished", run_id=run.id, attempt=run.attempt)
                published.append(run)
        return published

    def readiness(self) -> dict[str, bool]:
        """Whether the metadata store, the broker and the artifact store answer,
        cached for `ready_cache_s` so probes never pile load on a struggling store."""
        now = time.monotonic()
        cached = self._ready_cache
        if cached is not None and now - cached[0] < self.settings.ready_cache_s:
            return dict(cached[1])
        checks: dict[str, bool] = {}
        for name, ping in (
            ("metadata_store", self.meta.ping),
            ("broker", self.dispatcher.ping),
            ("artifact_store", self.artifacts.ping),
        ):
            try:
                checks[name] = bool(ping())
            except Exception:  # a failing ping means "not ready"
                checks[name] = False
        self._ready_cache = (time.monotonic(), checks)
        return dict(checks)

    def reap_lost_runs(self) -> list[Run]:
        """RUNNING runs without a heartbeat for heartbeat_timeout_s: re-queued once
        (attempt 2), then FAILED / WORKER_LOST. Returns the runs changed."""
        now = utcnow()
        cutoff = now - timedelta(seconds=self.settings.heartbeat_timeout_s)
        changed: list[Run] = []
        for run in self.meta.list_stale_runs(cutoff):
            if run.attempt < 2:
                requeued = self._transition(
                    run,
                    RunState.QUEUED,
                    attempt=run.attempt + 1,
                    worker_id=None,
                    start_time=None,
                    heartbeat_time=None,
                )
                if requeued is None:
                    continue
                changed.append(requeued)
                log.warning("run.requeued", run_id=run.id, lost_worker=run.worker_id)
                self._publish(requeued)  # a refused publish is retried by the sweeper
            else:
                lost = self._lose(
                    run,
                    now,
                    f"worker {run.worker_id} stopped sending heartbeats "
                    f"(attempt {run.attempt}, timeout {self.settings.heartbeat_timeout_s:g} s)",
                )
                if lost is not None:
                    changed.append(lost)
        return changed

    def _lose(self, run: Run, now: datetime, message: str) -> Run | None:
        lost = self._transition(
            run,
            RunState.FAILED,
            failure_reason=FailureReason.WORKER_LOST,
            failure_message=message,
            end_time=now,
        )
        if lost is not None:
            log.warning("run.worker_lost", run_id=run.id)
            self._after_run_finished(lost)
        return lost

    # --- consequences of a run ending -----------------------------------------

    def _after_run_finished(self, run: Run) -> None:
        if run.purpose is RunPurpose.CALIBRATION:
            self._update_calibration(run.track_id)
        for evaluation in self.meta.list_pending_evaluations(run.track_id):
            if run.id in evaluation.candidate.run_ids or run.id in evaluation.reference.run_ids:
                self._try_finish_evaluation(evaluation)

    def _update_calibration(self, track_id: str) -> None:
        """Noise = sample std of the baseline's calibration results (n >= 2); once every
        calibration run has ended, the best one justifies the baseline head."""
        with self._finish_lock:
            track = self.meta.get_track(track_id)
            if track is None:
                return
            runs = [
                r
                for r in self._all_runs(track_id=track.id, revision_id=track.baseline_revision)
                if r.purpose is RunPurpose.CALIBRATION
            ]
            values = [
                r.summary.val_bpb
                for r in runs
                if r.state is RunState.SUCCEEDED and r.summary and _finite(r.summary.val_bpb)
            ]
            std = sample_std([v for v in values if v is not None])
            if std is not None:
                self.meta.update_track_noise(track.id, std, len(values))
            all_done = all(r.state in TERMINAL_RUN_STATES for r in runs)
            best = self._best_run(runs)
            if (
                all_done
                and best is not None
                and track.head_run_id is None
                and track.head_revision == track.baseline_revision
            ):
                self.meta.compare_and_set_head(
                    track.id, track.baseline_revision, track.baseline_revision, best.id
                )
            log.info("track.calibrated", track_id=track.id, noise_std=std, samples=len(values))
