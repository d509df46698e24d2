"""The worker's port: the runner's typed result becomes the run's outcome, and run files
are stored under the domain's keys."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.domain.models import FailureReason, Run, RunPurpose, RunState
from service.stores.artifacts import LocalArtifactStore
from service.worker.port import WorkerPort, failed_without_training, outcome_of
from trainer.runner.config import RunFailure, RunResult, RunStatus

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def _run() -> Run:
    return Run(
        id="run-1",
        track_id="t",
        revision_id="r",
        harness_id="h",
        agent_id="a",
        purpose=RunPurpose.EXPERIMENT,
        seed=0,
        device_class="cpu",
        time_budget_s=60.0,
        state=RunState.RUNNING,
        failure_reason=None,
        failure_message=None,
        summary=None,
        worker_id="w",
        attempt=1,
        create_time=CREATED,
        start_time=CREATED + timedelta(seconds=3),
        end_time=None,
        heartbeat_time=None,
    )


def test_a_success_carries_the_supervisors_figures_and_the_overheads() -> None:
    result = RunResult(
        state=RunStatus.SUCCEEDED,
        val_bpb=1.5,
        training_seconds=10.0,
        startup_seconds=2.0,
        eval_seconds=1.0,
        num_steps=7,
        sandbox_mode="bubblewrap",
        reported={"num_steps": 9, "unknown": "ignored"},
    )
    outcome = outcome_of(result, _run(), fetch_s=0.5, speed_probe=42.0)
    assert outcome.state == RunState.SUCCEEDED and outcome.failure_reason is None
    summary = outcome.summary
    assert summary is not None
    assert (summary.val_bpb, summary.num_steps, summary.sandbox) == (1.5, 7, "bubblewrap")
    assert summary.reported.num_steps == 9 and summary.speed_probe == 42.0
    overhead = summary.overhead
    assert overhead.queue_wait_seconds == 3.0 and overhead.startup_seconds == 2.5
    assert overhead.eval_seconds == 1.0 and overhead.upload_seconds == 0.0


@pytest.mark.parametrize("failure", list(RunFailure))
def test_every_runner_failure_is_the_domain_reason_of_the_same_name(failure: RunFailure) -> None:
    result = RunResult(state=RunStatus.FAILED, failure_reason=failure, failure_message="why")
    outcome = outcome_of(result, _run(), fetch_s=0.0)
    assert outcome.state == RunState.FAILED
    assert outcome.failure_reason == FailureReason(failure.value)
    assert outcome.failure_message == "why"


def test_a_failure_without_a_reason_is_a_crash() -> None:
    outcome = outcome_of(RunResult(state=RunStatus.FAILED), _run(), fetch_s=0.0)
    assert outcome.failure_reason == FailureReason.CRASH


def test_a_run_the_worker_stopped_is_not_the_codes_fault() -> None:
    outcome = outcome_of(RunResult(state=RunStatus.CANCELLED), _run(), fetch_s=0.0)
    assert (outcome.state, outcome.failure_reason) == (RunState.FAILED, FailureReason.WORKER_LOST)


def test_a_run_never_trained_has_only_its_queue_wait() -> None:
    outcome = failed_without_training(_run(), FailureReason.SANDBOX_UNAVAILABLE, "no bwrap")
    assert outcome.failure_reason == FailureReason.SANDBOX_UNAVAILABLE
    assert outcome.summary is not None and outcome.summary.overhead.queue_wait_seconds == 3.0


class _Core:
    def __init__(self, artifacts: LocalArtifactStore) -> None:
        self.artifacts = artifacts


def test_run_and_harness_files_use_the_domains_keys(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    port = WorkerPort(_Core(store))  # type: ignore[arg-type]
    ref = port.upload_run_file("run-1", "log.txt", io.BytesIO(b"hello"), 5)
    assert ref.key == "runs/run-1/log.txt"
    store.put_bytes("harnesses/h1/manifest.json", b"{}")
    port.download_harness_file("h1", "manifest.json", str(tmp_path / "m.json"))
    assert (tmp_path / "m.json").read_bytes() == b"{}"
