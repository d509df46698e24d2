"""The domain's enumerations and the run state machine."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class RunState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_RUN_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})


# The run state machine: every legal transition, nothing else.
# RUNNING -> QUEUED is the reaper's single re-queue of a run whose worker vanished.
RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.CANCELLED, RunState.FAILED}),
    RunState.RUNNING: frozenset(
        {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.QUEUED}
    ),
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CANCELLED: frozenset(),
}


class FailureReason(StrEnum):
    CRASH = "CRASH"
    TIMEOUT = "TIMEOUT"
    OOM = "OOM"
    DIVERGED = "DIVERGED"
    CONTRACT = "CONTRACT"
    SANDBOX_VIOLATION = "SANDBOX_VIOLATION"
    INTEGRITY = "INTEGRITY"
    WORKER_LOST = "WORKER_LOST"
    # Loopy's own infrastructure failed (a store or the broker): never the agent's
    # code, never charged to the agent.
    INFRASTRUCTURE = "INFRASTRUCTURE"
    SANDBOX_UNAVAILABLE = "SANDBOX_UNAVAILABLE"  # the worker refused: no sandbox to be had


class RunPurpose(StrEnum):
    EXPERIMENT = "EXPERIMENT"  # launched by an agent
    CALIBRATION = "CALIBRATION"  # baseline seeds run when a track is created
    REPLICATE = "REPLICATE"  # extra seeds launched by an evaluation


class Verdict(StrEnum):
    KEEP = "KEEP"
    DISCARD = "DISCARD"
    INCONCLUSIVE = "INCONCLUSIVE"
    # The two sides ran at machine speeds further apart than the probe's noise allows:
    # the difference may be the machine's, not the code's. No decision is made.
    CONFOUNDED = "CONFOUNDED"
    # The candidate's code is behaviourally identical to the reference (same AST once
    # comments, docstrings and formatting are dropped): answered at once, without a run.
    EQUIVALENT = "EQUIVALENT"


class BudgetKind(StrEnum):
    WALL_SECONDS = "WALL_SECONDS"  # training seconds per run (as autoresearch)
    TOKENS = "TOKENS"  # training tokens per run: hardware-independent


class EvaluationState(StrEnum):
    PENDING = "PENDING"  # waiting for replicate runs
    DONE = "DONE"
    FAILED = "FAILED"  # replicates failed; `failure_message` says why


class PatchFormat(StrEnum):
    UNIFIED_DIFF = "UNIFIED_DIFF"
    SEARCH_REPLACE = "SEARCH_REPLACE"
    FULL_SOURCE = "FULL_SOURCE"


class ProposalOutcome(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class RunEventType(StrEnum):
    STATE = "state"  # data: the Run
    METRICS = "metrics"  # data: {"points": [...]}
    LOG = "log"  # data: {"text": ...}
