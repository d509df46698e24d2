"""What a caller asks of the runner (RunConfig) and what it gets back (RunResult)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import msgspec


class RunStatus(StrEnum):
    """How a run ended (RunResult.state)."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # by the caller's cancel event, never by a child's word


class RunFailure(StrEnum):
    """Why a run FAILED (RunResult.failure_reason). The values are those of
    service.domain.models.FailureReason (the trainer does not import the service; the
    worker's port maps one onto the other and a test checks that every value maps)."""

    CRASH = "CRASH"
    TIMEOUT = "TIMEOUT"
    OOM = "OOM"
    DIVERGED = "DIVERGED"
    CONTRACT = "CONTRACT"
    SANDBOX_VIOLATION = "SANDBOX_VIOLATION"
    SANDBOX_UNAVAILABLE = "SANDBOX_UNAVAILABLE"  # the sandbox could not be built: nothing ran
    INTEGRITY = "INTEGRITY"


# What ends a run early inside the runner: a failure, or the caller's cancel.
Stop = RunFailure | Literal[RunStatus.CANCELLED]


class RunConfig(msgspec.Struct, kw_only=True):
    harness_dir: str
    train_source: str  # the whole train.py
    budget_s: float  # training seconds, counted from the first ctx.report()
    out_dir: str  # created if missing; holds the work dirs, logs, checkpoint, result
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"
    seed: int = 0
    # Training tokens per run (0 = none): ctx.progress() counts tokens served, so
    # should_stop() comes after the same amount of data on busy and idle machines alike
    # (a TOKENS track budget); budget_s stays the hard limit.
    token_budget: int = 0
    extra_env: dict[str, str] = msgspec.field(default_factory=dict)  # added to the scrubbed env
    options: dict[str, Any] = msgspec.field(default_factory=dict)  # ctx.options for train.py
    # time limits: the training child is killed at startup + budget + grace
    startup_allowance_s: float | None = None  # default: 30 s on CPU, 180 s on CUDA
    grace_s: float | None = None  # default: 5 s + 5 % of the budget
    # evaluation children importing torch (before any agent code runs there); loading and
    # scoring have deadlines derived from the honest cost (trainer.runner.evaluation)
    eval_timeout_s: float | None = None  # default: 120 s on CPU, 600 s on CUDA
    # sandbox limits
    memory_limit_mb: int | None = None  # default: 80 % of physical memory
    max_processes: int = 512  # tasks (threads count too)
    max_file_size_mb: int = 2048  # largest file the child may write
    max_open_files: int = 1024
    log_cap_bytes: int = 8 << 20  # captured stdout+stderr per child
    threads: int | None = None  # OMP/MKL threads (and the CPU quota); default: our CPUs
    # the sandbox (trainer/runner/sandbox/): "bubblewrap", or "none" only where the
    # operator explicitly runs agent code unsealed (LOOPY_UNSAFE_NO_SANDBOX)
    sandbox: str = "bubblewrap"
    bwrap: str = "bwrap"  # the bwrap executable
    sandbox_uid: int = 61000  # host uid of the children when the worker runs as root
    scratch_mb: int = 4096  # the child's private tmpfs home; /tmp and /dev/shm a quarter each
    max_checkpoint_mb: int = 4096  # a larger checkpoint is refused (SANDBOX_VIOLATION)
    # evaluation
    eval_slot_mb: int | None = None  # logits per batch; default 16 MB on CPU, 512 MB on CUDA
    eval_batch_rows: int | None = None  # rows per evaluation batch (overrides eval_slot_mb)
    # per-position cross-entropy disagreement allowed between primary and auditor;
    # default: measured per device class (evaluation.TOLERANCES)
    integrity_atol: float | None = None
    audit_fraction: float = 0.1  # of the validation rows re-scored by the auditor, at least
    audit_seed: int | None = None  # tests only: default a secret random draw per evaluation
    prewarm_eval: bool = True  # start the evaluation child (imports) with the training child


# What a train file may say about why it failed, when the supervisor saw its child end on
# its own with an error: labels that all mean "the train file failed" (charged and
# ranked alike). Any other claim (CANCELLED, TIMEOUT, INTEGRITY, ...) is CRASH.
CLAIMABLE_REASONS = frozenset(
    {
        RunFailure.CRASH,
        RunFailure.OOM,
        RunFailure.DIVERGED,
        RunFailure.CONTRACT,
        RunFailure.SANDBOX_VIOLATION,
    }
)


class RunResult(msgspec.Struct, kw_only=True):
    """Every figure here is the supervisor's own; what the train file said about itself
    is only in `reported` (training_seconds, total_tokens, num_steps, num_params,
    peak_memory_mb, device_name, mfu_percent, failure_reason, when it said them)."""

    state: RunStatus
    failure_reason: RunFailure | None = None  # set when state is FAILED
    failure_message: str | None = None
    val_bpb: float | None = None
    # supervisor's clock: training clock start until the training child was gone (its
    # checkpoint saved); the clock starts at the first report, at the first batch past
    # the warm-up batches, or when the start-up allowance runs out
    training_seconds: float = 0.0
    total_seconds: float = 0.0
    total_tokens: int = 0  # input tokens of the batches the supervisor served
    num_steps: int = 0  # batches the supervisor served (one per forward/backward pass)
    num_params: int = 0  # elements of the checkpoint's tensors
    peak_memory_mb: float = 0.0  # measured from outside the child; 0 when unknown
    mfu_percent: float | None = None  # 6 * num_params * tokens / time / device peak
    device_name: str = ""  # "cpu", or the GPU's name from nvidia-smi
    startup_seconds: float = 0.0  # the warm-up: child start until the training clock started
    compute_seconds: float = 0.0  # charged to the quota: training_seconds, or for a run the
    # supervisor killed (timeout, cancel, contract, divergence) the child's wall time
    reported: dict[str, Any] = msgspec.field(default_factory=dict)  # the train file's claims
    metrics_dropped: int = 0  # metric values not recorded (over the per-run caps)
    eval_seconds: float = 0.0  # end of training until val_bpb was known
    # where evaluation time went: load (checkpoint into the child), waiting (for logits),
    # reducing (cross-entropy and checks here), child_forward/child_copy (as the child says)
    eval_timing: dict[str, float] = msgspec.field(default_factory=dict)
    integrity: dict[str, Any] = msgspec.field(default_factory=dict)  # checks and evidence
    log_path: str | None = None
    checkpoint_path: str | None = None
    network_isolated: bool = False
    sandbox_mode: str = ""  # "bubblewrap", "none" (the operator's unsafe mode) or ""
    sandbox: dict[str, Any] = msgspec.field(default_factory=dict)  # what was enforced, how
    final_loss: float | None = None  # last training loss reported

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode()
