"""The worker's one door into the domain: `WorkerPort`.

RunExecutor, Forwarder, Heartbeat, the spool, the harness cache and the reaper
reach the metadata and artifact stores only through it, never through the
`Loopy` facade directly. It also owns the two translations between the trainer's
runner and the domain: where a run's files are stored (`domain.ids`), and what a
runner's typed result (`RunStatus`, `RunFailure`) means for the run (`outcome_of`).
"""

from __future__ import annotations

from typing import Any, BinaryIO

import msgspec

from service.domain import ids
from service.domain.models import (
    ArtifactRef,
    FailureReason,
    MetricPoint,
    OverheadBreakdown,
    ReportedFigures,
    Run,
    RunAssignment,
    RunOutcome,
    RunState,
    RunSummary,
)
from service.domain.ports import ArtifactStore
from service.domain.service import Loopy
from trainer.runner.config import RunFailure, RunResult, RunStatus

# A runner failure is the domain's failure reason of the same name (a value missing
# from the domain fails here, at import, not on the first run that fails that way).
FAILURE_REASONS: dict[RunFailure, FailureReason] = {
    failure: FailureReason(failure.value) for failure in RunFailure
}


class WorkerPort:
    """The domain's worker protocol (claim, beat, record, complete, release), the
    store of harness and run files, and the runner-result translation."""

    def __init__(self, core: Loopy) -> None:
        self._core = core

    # --- the worker protocol ---

    def claim_run(self, run_id: str, worker_id: str) -> RunAssignment | None:
        return self._core.claim_run(run_id, worker_id)

    def heartbeat(self, run_id: str, worker_id: str) -> bool:
        return self._core.heartbeat(run_id, worker_id)

    def record_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        self._core.record_metrics(run_id, points)

    def record_log(self, run_id: str, text: str) -> None:
        self._core.record_log(run_id, text)

    def complete_run(self, run_id: str, worker_id: str, outcome: RunOutcome) -> Run | None:
        return self._core.complete_run(run_id, worker_id, outcome)

    def release_run(self, run_id: str, worker_id: str, reason: str) -> Run | None:
        return self._core.release_run(run_id, worker_id, reason)

    def requeue_unclaimed_runs(self) -> list[Run]:
        return self._core.requeue_unclaimed_runs()

    def reap_lost_runs(self) -> list[Run]:
        return self._core.reap_lost_runs()

    # --- files ---

    @property
    def artifacts(self) -> ArtifactStore:
        return self._core.artifacts

    def download_harness_file(self, harness_id: str, file_name: str, target: str) -> None:
        self.artifacts.download_to(ids.harness_key(harness_id, file_name), target)

    def upload_run_file(
        self, run_id: str, file_name: str, stream: BinaryIO, size: int
    ) -> ArtifactRef:
        return self.artifacts.put(ids.run_artifact_key(run_id, file_name), stream, size)


# --- the runner's result as the run's outcome ---


def queue_wait_seconds(run: Run) -> float:
    if run.start_time is None:
        return 0.0
    return max(0.0, (run.start_time - run.create_time).total_seconds())


def outcome_of(
    result: RunResult, run: Run, fetch_s: float, speed_probe: float | None = None
) -> RunOutcome:
    """What the runner's result means for the run. Artifacts and the upload time are
    added when the spool delivers it."""
    if result.state == RunStatus.SUCCEEDED:
        state, reason = RunState.SUCCEEDED, None
    elif result.state == RunStatus.CANCELLED:
        # The runner stopped on our cancel without the run being cancelled through
        # the API (e.g. the worker is stopping): not the code's fault.
        state, reason = RunState.FAILED, FailureReason.WORKER_LOST
    else:
        state = RunState.FAILED
        reason = FAILURE_REASONS[result.failure_reason or RunFailure.CRASH]
    summary = RunSummary(
        val_bpb=result.val_bpb,
        training_seconds=result.training_seconds,
        total_seconds=result.total_seconds,
        total_tokens=result.total_tokens,
        num_steps=result.num_steps,
        num_params=result.num_params,
        peak_memory_mb=result.peak_memory_mb,
        mfu_percent=result.mfu_percent,
        device_name=result.device_name,
        sandbox=result.sandbox_mode,
        compute_seconds=result.compute_seconds,
        reported=_reported(result.reported),
        speed_probe=speed_probe,
        overhead=OverheadBreakdown(
            queue_wait_seconds=queue_wait_seconds(run),
            startup_seconds=fetch_s + result.startup_seconds,
            training_seconds=result.training_seconds,
            eval_seconds=result.eval_seconds,
        ),
    )
    return RunOutcome(
        state=state,
        failure_reason=reason,
        failure_message=result.failure_message,
        summary=summary,
    )


def failed_without_training(run: Run, reason: FailureReason, message: str) -> RunOutcome:
    """The outcome of a run the worker could not train at all (no sandbox, no harness,
    a bug of ours): never a figure of the train file."""
    return RunOutcome(
        state=RunState.FAILED,
        failure_reason=reason,
        failure_message=message,
        summary=RunSummary(overhead=OverheadBreakdown(queue_wait_seconds=queue_wait_seconds(run))),
    )


def _reported(claims: dict[str, Any]) -> ReportedFigures:
    """The train file's own figures (already bounded by the runner's channel schema)."""
    try:
        return msgspec.convert(claims, ReportedFigures)
    except (msgspec.ValidationError, TypeError):
        return ReportedFigures()
