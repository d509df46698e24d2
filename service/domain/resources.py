"""Loopy's resources (SPEC §1) as msgspec structs.

These are the domain's own types: the stores persist them, the transports
convert them to JSON / protobuf. Time stamps are timezone-aware UTC datetimes;
durations carry their unit in the field name. The requests are in
service.domain.requests; service.domain.models imports all of them at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec

from service.domain.enums import (
    BudgetKind,
    EvaluationState,
    FailureReason,
    PatchFormat,
    ProposalOutcome,
    Role,
    RunEventType,
    RunPurpose,
    RunState,
    Verdict,
)

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- Agents and keys ---------------------------------------------------------


class AgentQuota(msgspec.Struct, kw_only=True):
    max_queued_runs: int = 8  # runs in QUEUED or RUNNING at once
    max_compute_seconds: float = 86_400.0  # training seconds over the agent's lifetime


class Agent(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: Role
    quota: AgentQuota
    create_time: datetime
    compute_seconds_used: float = 0.0


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: resolved from the API key by `Loopy.authenticate`."""

    agent_id: str
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class CreatedAgent(msgspec.Struct, kw_only=True):
    agent: Agent
    api_key: str  # shown once; only its hash is stored


# --- Harness -----------------------------------------------------------------


class Harness(msgspec.Struct, kw_only=True):
    id: str  # derived from the manifest hash
    description: str
    vocab_size: int
    seq_len: int
    eval_tokens: int
    bos_token_id: int
    time_budget_s: float
    metric: str  # "val_bpb"
    files: dict[str, str]  # file name -> sha256 (from the manifest)
    size_bytes: int
    create_time: datetime


# --- Track -------------------------------------------------------------------


class DecisionPolicy(msgspec.Struct, kw_only=True):
    calibration_runs: int = 3  # baseline seeds run at track creation
    replicates: int = 2  # pairs (candidate + reference, same seed) dispatched per round
    k_sigma: float = 2.0  # unused since decisions v2 (kept for old clients)
    min_delta: float = 0.0  # KEEP also needs the mean paired gain above this
    auto_promote: bool = False  # a KEEP advances the head by itself
    max_pairs: int = 12  # an evaluation stops after this many pairs at the latest
    fdr_alpha: float = 0.05  # the track's false-discovery budget (LORD++)
    speed_tolerance: float = 0.10  # relative machine-speed gap that confounds a comparison


class Track(msgspec.Struct, kw_only=True):
    id: str
    display_name: str
    description: str
    program: str  # the research program agents read (markdown)
    harness_id: str
    baseline_revision: str
    head_revision: str
    head_run_id: str | None  # the run that justified the current head
    device_class: str  # Celery queue: "cpu", "cuda", ...
    time_budget_s: float  # training budget of each run on this track
    policy: DecisionPolicy
    allowed_imports: list[str]  # top-level modules train.py may import
    noise_std: float | None  # std of the metric over calibration runs
    noise_samples: int  # how many calibration results noise_std is based on
    creator_agent_id: str
    create_time: datetime
    update_time: datetime
    head_version: int = 0  # bumped by every promotion (compare-and-swap token)
    budget_kind: BudgetKind = BudgetKind.WALL_SECONDS
    token_budget: int = 0  # training tokens per run when budget_kind is TOKENS
    fdr_tests: int = 0  # evaluations that have drawn a level from the error budget
    # What remains of the false-discovery budget (filled when the track is read).
    error_budget: ErrorBudget | None = None


class ErrorBudget(msgspec.Struct, kw_only=True):
    """The state of a track's online false-discovery control (LORD++)."""

    rule: str  # "LORD++"
    alpha: float  # target false-discovery rate over the track's whole life
    tests: int  # evaluations that drew a level
    discoveries: int  # of those, KEEPs
    spent: float  # sum of the levels drawn so far
    earned: float  # initial wealth + what the discoveries paid back
    remaining: float  # earned - spent
    next_level: float  # the level the next evaluation would get (KEEP needs e >= 1/level)


class HeadChange(msgspec.Struct, kw_only=True):
    """One move of a track's head, kept forever (ListHeadChanges)."""

    id: str
    track_id: str
    head_version: int  # the track's head_version after this change
    from_revision: str | None  # None for the track's initial head
    to_revision: str
    run_id: str | None
    evaluation_id: str | None  # the KEEP evaluation that justified it
    agent_id: str
    forced: bool  # an admin moved it without a KEEP
    reason: str
    time: datetime


class Program(msgspec.Struct, kw_only=True):
    track_id: str
    text: str  # markdown: goal, rules, metric, budget, how to propose and evaluate
    head_revision: str
    baseline_revision: str
    metric: str
    time_budget_s: float


# --- Revisions and proposals -------------------------------------------------


class DiffStats(msgspec.Struct, kw_only=True):
    lines_added: int
    lines_removed: int


class Revision(msgspec.Struct, kw_only=True):
    id: str  # sha256 hex of `source` encoded as UTF-8
    track_id: str  # the track it was first proposed on
    parent_id: str | None  # None only for a track's baseline
    author_agent_id: str
    description: str
    source: str
    diff_to_parent: str  # unified diff, "" for a baseline
    stats: DiffStats  # against the parent
    rebased: bool  # the edit was made on an older base and merged onto the head
    create_time: datetime
    # sha256 of the code's AST without comments, docstrings and formatting ("" = unknown)
    ast_hash: str = ""


class Proposal(msgspec.Struct, kw_only=True):
    """Every ProposeEdit call, accepted or refused, is kept (nothing is lost)."""

    id: str
    track_id: str
    author_agent_id: str
    base_revision: str
    head_revision_at_proposal: str
    format: PatchFormat
    patch: str  # the diff / JSON of the blocks / the source, as sent
    description: str
    outcome: ProposalOutcome
    revision_id: str | None  # set when accepted
    rejection_message: str | None
    rejection_details: dict[str, Any] | None
    create_time: datetime
    request_id: str | None = None


class ProposeEditResult(msgspec.Struct, kw_only=True):
    revision: Revision
    proposal_id: str
    already_exists: bool  # identical source was proposed before: nothing new was made
    rebased: bool
    existing_run_ids: list[str]  # runs of the revision when it already existed
    notes: list[str] = msgspec.field(default_factory=list)  # how a loose patch was placed
    # Other revisions whose code is behaviourally identical (same AST without comments,
    # docstrings and formatting): evaluating against one of them answers EQUIVALENT.
    equivalent_to: list[str] = msgspec.field(default_factory=list)


class RevisionView(msgspec.Struct, kw_only=True):
    """GetRevision: a revision with its lineage and diffs."""

    revision: Revision
    diff_to_baseline: str
    stats_to_baseline: DiffStats
    children: list[str]
    run_ids: list[str]
    equivalent_to: list[str] = msgspec.field(default_factory=list)


# --- Runs --------------------------------------------------------------------


class OverheadBreakdown(msgspec.Struct, kw_only=True):
    queue_wait_seconds: float = 0.0
    startup_seconds: float = 0.0
    training_seconds: float = 0.0
    eval_seconds: float = 0.0
    upload_seconds: float = 0.0


class ArtifactRef(msgspec.Struct, kw_only=True):
    key: str  # key in the artifact store
    sha256: str
    size_bytes: int


class ReportedFigures(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the train file said about its own run (unset: it said nothing). Kept to help
    debug a train file; never a figure of the run, which the supervisor measures."""

    training_seconds: float | None = None
    total_tokens: int | None = None
    num_steps: int | None = None
    num_params: int | None = None
    peak_memory_mb: float | None = None
    mfu_percent: float | None = None
    device_name: str | None = None
    failure_reason: str | None = None


class RunSummary(msgspec.Struct, kw_only=True):
    """Every figure is the trusted supervisor's own (see trainer.runner.config.RunResult);
    the train file's claims are only in `reported`."""

    val_bpb: float | None = None  # the primary metric
    training_seconds: float = 0.0  # the supervisor's clock: training start to saved checkpoint
    total_seconds: float = 0.0
    total_tokens: int = 0  # tokens in the batches the supervisor served
    num_steps: int = 0  # batches the supervisor served
    num_params: int = 0  # elements of the checkpoint's tensors
    peak_memory_mb: float = 0.0  # measured from outside the child; 0 when unknown
    mfu_percent: float | None = None
    device_name: str = ""
    overhead: OverheadBreakdown = msgspec.field(default_factory=OverheadBreakdown)
    # charged to the agent's compute quota: training_seconds, or the wall time of a run
    # the supervisor had to kill (timeout, cancel, contract violation, divergence)
    compute_seconds: float = 0.0
    reported: ReportedFigures = msgspec.field(default_factory=ReportedFigures)
    artifacts: dict[str, ArtifactRef] = msgspec.field(
        default_factory=dict
    )  # source, log, checkpoint
    sandbox: str = ""  # "bubblewrap", or "none" in the operator's explicit unsafe mode
    # Machine speed measured by the worker just before training (a fixed benchmark,
    # GFLOP/s; higher = faster); None when the worker did not measure it.
    speed_probe: float | None = None


class Run(msgspec.Struct, kw_only=True):
    id: str
    track_id: str
    revision_id: str
    harness_id: str
    agent_id: str
    purpose: RunPurpose
    seed: int
    device_class: str
    time_budget_s: float
    state: RunState
    failure_reason: FailureReason | None
    failure_message: str | None
    summary: RunSummary | None
    worker_id: str | None
    attempt: int  # 1 on first delivery; the reaper re-queues once
    create_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    heartbeat_time: datetime | None
    request_id: str | None = None
    evaluation_id: str | None = None  # for REPLICATE runs: the evaluation that asked
    token_budget: int = 0  # training tokens (0 = the time budget alone limits training)


class MetricPoint(msgspec.Struct, kw_only=True, array_like=False):
    step: int
    name: str  # "loss", "lr", "tokens_per_s", "val_bpb", ...
    value: float
    wall_seconds: float  # since the start of training


class MetricSeries(msgspec.Struct, kw_only=True):
    run_id: str
    points: list[MetricPoint]
    next_since_step: int | None  # pass as since_step to continue; None when complete for now


class RunEvent(msgspec.Struct, kw_only=True):
    run_id: str
    seq: int  # strictly increasing per run; SSE id / resume token
    type: RunEventType
    data: dict[str, Any]
    time: datetime


class RunLogs(msgspec.Struct, kw_only=True):
    run_id: str
    text: str
    truncated: bool


# --- Worker-facing -----------------------------------------------------------


class RunAssignment(msgspec.Struct, kw_only=True):
    """What a worker needs to execute a claimed run."""

    run: Run
    source: str  # the revision's train.py
    harness: Harness


class RunOutcome(msgspec.Struct, kw_only=True):
    """What a worker reports when a run ends."""

    state: RunState  # SUCCEEDED or FAILED (CANCELLED comes from cancel_run)
    failure_reason: FailureReason | None = None
    failure_message: str | None = None
    summary: RunSummary | None = None


# --- Evaluation --------------------------------------------------------------


class SampleStats(msgspec.Struct, kw_only=True):
    revision_id: str
    run_ids: list[str]
    values: list[float]
    n: int
    mean: float | None
    std: float | None


class EvalPair(msgspec.Struct, kw_only=True):
    """Replicate i of each side: same seed, dispatched together."""

    seed: int
    candidate_run_id: str
    reference_run_id: str
    reused_reference: bool = False  # an earlier reference run at a matching machine speed
    difference: float | None = None  # reference - candidate val_bpb (positive = better)
    candidate_speed: float | None = None  # speed probes (GFLOP/s)
    reference_speed: float | None = None


class SpeedCheck(msgspec.Struct, kw_only=True):
    """The two sides' machine speeds (worker probes), steps and tokens."""

    pairs_with_probe: int = 0
    speed_ratio: float | None = None  # geometric mean of candidate / reference speed
    ratio_noise: float | None = None  # std error of log(speed_ratio)
    tolerance: float = 0.0  # relative gap that counts as a different machine speed
    confounded: bool = False
    candidate_steps: float | None = None  # mean steps per run
    reference_steps: float | None = None
    candidate_tokens: float | None = None  # mean training tokens per run
    reference_tokens: float | None = None


class Evaluation(msgspec.Struct, kw_only=True):
    id: str
    run_id: str
    track_id: str
    state: EvaluationState
    candidate: SampleStats
    reference: SampleStats
    delta: float | None  # reference mean - candidate mean (positive = better, lower bpb)
    noise_std: float | None  # pooled sigma used for the z-score
    z_score: float | None
    verdict: Verdict | None
    diff_stats: DiffStats  # size of the change against the reference revision
    replicate_run_ids: list[str]
    promoted: bool
    failure_message: str | None
    create_time: datetime
    finish_time: datetime | None
    request_id: str | None = None
    sandbox: str = ""  # "none" if any of its runs ran unsealed (see sandbox_of)
    # --- decisions v2: paired, sequential, error-controlled
    agent_id: str = ""  # who asked (later rounds are launched on its behalf)
    method: str = ""  # e.g. "paired-t mixture SPRT"
    pairs: list[EvalPair] = msgspec.field(default_factory=list)
    pairs_used: int = 0  # complete pairs behind the verdict
    max_pairs: int = 0
    pairs_per_round: int = 0
    e_value: float | None = None  # the mixture likelihood ratio (Bayes factor) of the pairs
    threshold: float | None = None  # KEEP needs e_value >= threshold = 1 / level
    level: float | None = None  # this test's level from the track's error budget
    fdr_test_index: int | None = None  # its place in the track's sequence of tests
    interval_low: float | None = None  # 95 % Student-t interval of the mean paired gain
    interval_high: float | None = None
    speed: SpeedCheck | None = None
    equivalent_to: str | None = None  # set with verdict EQUIVALENT
    reason: str = ""  # one sentence: why this verdict (or why still pending)
    version: int = 0  # compare-and-swap token of the stored evaluation


# --- Leaderboard -------------------------------------------------------------


class LeaderboardEntry(msgspec.Struct, kw_only=True):
    rank: int
    revision_id: str
    author_agent_id: str
    description: str
    best_run_id: str
    best_value: float
    mean_value: float
    runs: int
    is_head: bool
    sandbox: str = ""  # "none" if any of its runs ran unsealed (see sandbox_of)
    kept: bool = False  # the revision was promoted to head at some time (recorded)


class Leaderboard(msgspec.Struct, kw_only=True):
    track_id: str
    metric: str
    entries: list[LeaderboardEntry]


# --- Pagination --------------------------------------------------------------


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_page_token: str  # "" when there is no next page


def sandbox_of(runs: list[Run]) -> str:
    """One word for a group of runs: "none" if any ran without the sandbox (the unsafe
    mode must never be averaged away), "bubblewrap" if every finished one was sealed."""
    modes = {r.summary.sandbox for r in runs if r.summary is not None and r.summary.sandbox}
    if "none" in modes:
        return "none"
    return "bubblewrap" if modes == {"bubblewrap"} else ""
