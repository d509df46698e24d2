"""How a run ends early, and who is to blame: `RunFailed` carries the reason out of
any phase; `classify_exit` names the failure of a child that ended on its own."""

from __future__ import annotations

import signal
from typing import Any

from trainer.runner.config import CLAIMABLE_REASONS, RunFailure, Stop
from trainer.runner.sandbox import Sandboxed


class RunFailed(Exception):
    """Ends the run early: FAILED for a reason, or CANCELLED on the caller's cancel."""

    def __init__(self, reason: Stop, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class EvaluationFailed(Exception):
    """Evaluation refused or could not score the checkpoint; `evidence` says why."""

    def __init__(
        self, reason: RunFailure, message: str, evidence: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence or {}


def classify_exit(
    child: Sandboxed,
    returncode: int,
    oom_killed: bool,
    phase: str,
    claimed: tuple[str, str] | None = None,
) -> tuple[RunFailure, str]:
    """Why a child that ended on its own failed, from what we saw: the cgroup's OOM
    kill, the signal, the exit status. A child's own account (`claimed`) can only
    name which kind of train-file failure it was (CLAIMABLE_REASONS), never move
    the blame (CANCELLED, TIMEOUT, INTEGRITY, WORKER_LOST, ... are CRASH)."""
    tail = child.tail()
    signum = -returncode if returncode < 0 else 0
    if oom_killed:
        return RunFailure.OOM, f"{phase} ran out of memory (exit {returncode})\n{tail}"
    if signum == signal.SIGKILL:
        return (
            RunFailure.OOM,
            f"{phase} process was killed (SIGKILL), most likely for memory\n{tail}",
        )
    if signum == signal.SIGXFSZ:
        return RunFailure.SANDBOX_VIOLATION, f"{phase} exceeded the file size limit\n{tail}"
    if signum:
        name = signal.Signals(signum).name if signum in signal.valid_signals() else signum
        return RunFailure.CRASH, f"{phase} process died (signal {name})\n{tail}"
    if claimed is not None:
        reason, message = claimed
        if reason in CLAIMABLE_REASONS:
            return RunFailure(reason), message[-4000:]
        return RunFailure.CRASH, (
            f"{phase} failed (exit code {returncode}); it claimed {reason[:64]!r}, which "
            f"only the supervisor decides\n{message[-4000:]}"
        )
    if "std::bad_alloc" in tail or "out of memory" in tail:
        return RunFailure.OOM, f"{phase} ran out of memory (exit {returncode})\n{tail}"
    return RunFailure.CRASH, f"{phase} process died (exit code {returncode})\n{tail}"
