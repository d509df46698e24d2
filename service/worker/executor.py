"""What a worker does with one run: claim, fetch, train, forward, spool, deliver.

`RunExecutor.execute(run_id)` is the body of the Celery task. It is safe to
call for any delivery of any message: the domain's `claim_run` admits exactly one.
It reaches the domain only through the WorkerPort (service/worker/port.py).
While the trainer's runner supervises the sandboxed child, two helper threads
run beside it: a heartbeat (which also notices a cancel: the run is no longer
RUNNING on this worker, so the child is killed) and a forwarder that writes
metric points and log text to the metadata store in small batches.

Finished work goes through the spool (service.worker.spool) so an outage of the
database or the object store delays a result, never loses it. Failures of our
own infrastructure hand the run back (QUEUED, same attempt) or end it
INFRASTRUCTURE, never CRASH. On SIGTERM the current run gets
`worker_shutdown_grace_s` to finish, then is handed back at once.
"""

from __future__ import annotations

import atexit
import random
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from service.domain.errors import NotFound
from service.domain.models import FailureReason, Run, RunAssignment, RunState
from service.worker.cache import HarnessCache
from service.worker.forwarding import Forwarder, Heartbeat
from service.worker.port import WorkerPort, failed_without_training, outcome_of
from service.worker.speed_probe import measure_speed
from service.worker.spool import Delivery, Spool, SpoolEntry, is_infrastructure_error
from trainer.runner.config import RunResult, RunStatus

log = structlog.get_logger(__name__)

# Waits between retries of a claim or a harness fetch while a store is down.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


class ClaimDeferred(Exception):
    """The metadata store stayed unreachable for the whole claim retry window: the
    message goes back to the broker (never acknowledged away)."""


def _backoff(attempt: int) -> float:
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2**attempt) * random.uniform(0.5, 1.0)


class RunExecutor:
    """Executes runs on one device for one worker process."""

    def __init__(
        self,
        port: WorkerPort,
        cache: HarnessCache,
        *,
        worker_id: str,
        device: str,
        work_dir: str | Path,
        heartbeat_interval_s: float,
        spool: Spool,
        claim_retry_window_s: float = 60.0,
        shutdown_grace_s: float = 0.0,
        run_options: dict[str, Any] | None = None,
        runner: Callable[..., Any] | None = None,
        sandbox_check: Callable[[], str | None] | None = None,
    ) -> None:
        self.port = port
        self.spool = spool
        self.claim_retry_window_s = claim_retry_window_s
        self.shutdown_grace_s = shutdown_grace_s
        self.cache = cache
        self.worker_id = worker_id
        self.device = device
        self.work_dir = Path(work_dir)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.run_options = dict(run_options or {})
        self._runner = runner
        self.sandbox_check = sandbox_check  # None, or why agent code cannot be sealed here
        self.shutting_down = threading.Event()  # SIGTERM: no new run
        self.stop_now = threading.Event()  # the grace is over: hand back what runs
        self._running: set[threading.Event] = set()  # cancel events of runs in progress
        self._running_lock = threading.Lock()
        # The next run's sandboxed children, started ahead (the real runner only): each
        # serves one run; started while a run evaluates, killed when the worker stops.
        self._warm: Any = None
        self._warm_lock = threading.Lock()
        self._prewarm_enabled = runner is None
        atexit.register(self.close_warm)

    # The trainer is imported once per worker process, not once per run.
    def runner(self) -> Callable[..., Any]:
        if self._runner is None:
            from trainer.runner import run

            self._runner = run
        return self._runner

    def request_shutdown(self) -> None:
        """Take no new run; let the current one finish within the grace, then stop its
        child and hand the run back (QUEUED, same attempt). Idempotent."""
        first = not self.shutting_down.is_set()
        self.shutting_down.set()
        self.close_warm()
        if self.shutdown_grace_s <= 0:
            self._stop_running()
        elif first:
            timer = threading.Timer(self.shutdown_grace_s, self._stop_running)
            timer.daemon = True
            timer.start()

    def _stop_running(self) -> None:
        self.stop_now.set()
        with self._running_lock:
            for cancel in self._running:
                cancel.set()

    def close_warm(self) -> None:
        """Kill the pre-warmed children that no run took (idempotent)."""
        with self._warm_lock:
            warm, self._warm = self._warm, None
        if warm is not None:
            warm.close()

    def _prewarm(self, config: Any) -> None:
        """Start the next run's children for this harness and device (if none are)."""
        if self.shutting_down.is_set():
            return
        with self._warm_lock:
            if self._warm is not None:
                return
        from trainer.runner import prewarm

        try:
            warm = prewarm(config, self.work_dir)
        except Exception as exc:  # the next run simply starts cold
            log.warning("run.prewarm_failed", error=str(exc))
            return
        with self._warm_lock:
            kept = self._warm is None and not self.shutting_down.is_set()
            if kept:
                self._warm = warm
        if not kept:
            warm.close()

    def _take_warm(self) -> Any:
        with self._warm_lock:
            warm, self._warm = self._warm, None
        return warm

    def execute(self, run_id: str) -> str:
        """Run the run if this delivery wins the claim; returns what happened.
        Raises ClaimDeferred when the store stayed down through the claim window."""
        if self.shutting_down.is_set():
            raise ClaimDeferred(f"worker {self.worker_id} is stopping")
        try:
            assignment = self._claim(run_id)
        except NotFound:  # a message for a run this metadata store never had
            log.warning("run.unknown", run_id=run_id, worker_id=self.worker_id)
            return "unknown"
        if assignment is None:
            log.info("run.claim_refused", run_id=run_id, worker_id=self.worker_id)
            return "skipped"
        run = assignment.run
        bound = log.bind(run_id=run.id, track_id=run.track_id, worker_id=self.worker_id)
        bound.info("run.started", attempt=run.attempt, device=self.device)

        cancel = threading.Event()
        heartbeat = Heartbeat(self.port, run.id, self.worker_id, self.heartbeat_interval_s, cancel)
        forwarder = Forwarder(self.port, run.id)
        out_dir = self.work_dir / run.id
        with self._running_lock:
            self._running.add(cancel)
        heartbeat.start()
        forwarder.start()
        try:
            return self._supervise(assignment, cancel, heartbeat, forwarder, out_dir, bound)
        except Exception as exc:
            bound.exception("run.worker_error")
            forwarder.close()
            heartbeat.stop()
            if heartbeat.lost.is_set():
                return "cancelled"
            if is_infrastructure_error(exc):
                return self._hand_back(run, f"infrastructure: {exc}", bound)
            # A bug on our side, not the agent's code: ours to own, not charged.
            return self._finish_without_training(
                run, FailureReason.INFRASTRUCTURE, f"worker error: {type(exc).__name__}: {exc}"
            )
        finally:
            forwarder.close()
            heartbeat.stop()
            with self._running_lock:
                self._running.discard(cancel)
            shutil.rmtree(out_dir, ignore_errors=True)

    def _claim(self, run_id: str) -> RunAssignment | None:
        """claim_run, retried through a store outage for `claim_retry_window_s`; past
        that ClaimDeferred: the message must go back to the broker, not be acked away."""
        deadline = time.monotonic() + self.claim_retry_window_s
        attempt = 0
        while True:
            try:
                return self.port.claim_run(run_id, self.worker_id)
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                if time.monotonic() > deadline or self.shutting_down.is_set():
                    log.warning("run.claim_deferred", run_id=run_id, error=str(exc))
                    raise ClaimDeferred(str(exc)) from exc
                log.warning("run.claim_retry", run_id=run_id, error=str(exc))
                time.sleep(_backoff(attempt))
                attempt += 1

    def _hand_back(self, run: Run, reason: str, bound: Any) -> str:
        """QUEUED again, same attempt; if even that fails the reaper re-queues it."""
        try:
            released = self.port.release_run(run.id, self.worker_id, reason)
        except Exception as exc:
            bound.warning("run.release_failed", error=str(exc))
            return "interrupted"
        bound.info("run.handed_back", reason=reason, released=released is not None)
        return "handed_back"

    def _fetch_harness(self, assignment: RunAssignment, cancel: threading.Event) -> Path:
        """The harness, retried while the object store is down (the heartbeat keeps
        the run ours meanwhile); raises the last error when the window is over."""
        deadline = time.monotonic() + self.claim_retry_window_s
        attempt = 0
        while True:
            try:
                return self.cache.ensure(assignment.harness)
            except Exception as exc:
                if not is_infrastructure_error(exc) or time.monotonic() > deadline:
                    raise
                if cancel.is_set() or self.stop_now.is_set():
                    raise
                log.warning("run.harness_retry", run_id=assignment.run.id, error=str(exc))
                cancel.wait(_backoff(attempt))
                attempt += 1

    def _supervise(
        self,
        assignment: RunAssignment,
        cancel: threading.Event,
        heartbeat: Heartbeat,
        forwarder: Forwarder,
        out_dir: Path,
        bound: Any,
    ) -> str:
        run = assignment.run
        started = time.monotonic()
        problem = self.sandbox_check() if self.sandbox_check is not None else None
        if problem is not None:  # refuse to run agent code unsealed
            bound.error("run.sandbox_unavailable", detail=problem)
            return self._finish_without_training(run, FailureReason.SANDBOX_UNAVAILABLE, problem)
        try:
            harness_dir = self._fetch_harness(assignment, cancel)
        except Exception as exc:
            bound.error("run.harness_unavailable", error=str(exc))
            if is_infrastructure_error(exc) or self.stop_now.is_set():
                return self._hand_back(run, f"harness unavailable: {exc}", bound)
            return self._finish_without_training(
                run,
                FailureReason.INFRASTRUCTURE,
                f"the worker could not fetch the harness: {exc}",
            )
        fetch_s = time.monotonic() - started
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        speed = measure_speed(self.device)  # the machine's speed now, before the child trains
        result = self._train(assignment.source, run, harness_dir, out_dir, forwarder, cancel)
        forwarder.close()  # every point the store takes is stored before the outcome
        if heartbeat.lost.is_set():
            heartbeat.stop()
            bound.info("run.abandoned", reason="no longer RUNNING on this worker")
            return "cancelled"
        if self.shutting_down.is_set() and result.state == RunStatus.CANCELLED:
            heartbeat.stop()
            return self._hand_back(run, "worker shutting down", bound)
        # Into the spool first (files moved, not copied), then delivered: a store that
        # is down delays the result; the heartbeat keeps the run ours meanwhile.
        points, log_text = forwarder.leftovers()
        outcome = outcome_of(result, run, fetch_s, speed)
        entry = self.spool.put(
            SpoolEntry(
                run_id=run.id,
                worker_id=self.worker_id,
                outcome=outcome,
                files={},
                points=points,
                log_text=log_text,
            ),
            self._artifact_files(assignment.source, result, out_dir),
        )
        delivery = self.spool.deliver(entry, self.stop_now)
        heartbeat.stop()
        bound.info(
            "run.finished",
            state=str(outcome.state),
            failure_reason=outcome.failure_reason,
            val_bpb=outcome.summary.val_bpb if outcome.summary else None,
            delivery=delivery,
            points=forwarder.points_sent + len(points),
        )
        if delivery == Delivery.STOPPED:
            return "spooled"
        return str(outcome.state)

    def _train(
        self,
        source: str,
        run: Run,
        harness_dir: Path,
        out_dir: Path,
        forwarder: Forwarder,
        cancel: threading.Event,
    ) -> RunResult:
        from trainer.runner import RunConfig

        options = dict(self.run_options)
        config = RunConfig(
            harness_dir=str(harness_dir),
            train_source=source,
            budget_s=float(run.time_budget_s),
            device=self.device,
            seed=int(run.seed),
            token_budget=int(run.token_budget),
            out_dir=str(out_dir),
            **options,
        )
        if self.shutting_down.is_set():
            cancel.set()
        if not self._prewarm_enabled:
            return self.runner()(
                config, on_metrics=forwarder.on_metrics, on_log=forwarder.on_log, cancel=cancel
            )
        return self.runner()(
            config,
            on_metrics=forwarder.on_metrics,
            on_log=forwarder.on_log,
            cancel=cancel,
            warm=self._take_warm(),
            # overlap the next run's start-up with this run's evaluation and upload
            on_trained=lambda: self._prewarm(config),
        )

    @staticmethod
    def _artifact_files(source: str, result: RunResult, out_dir: Path) -> dict[str, Path]:
        """The run's artifacts as files named as they are stored (runs/<id>/<name>)."""
        files: dict[str, Path] = {}
        source_path = out_dir / "source.py"
        source_path.write_bytes(source.encode("utf-8"))
        files["source"] = source_path
        for name, file_name, path in (
            ("log", "log.txt", result.log_path),
            ("checkpoint", "checkpoint.pt", result.checkpoint_path),
        ):
            if path and Path(path).is_file():
                target = out_dir / file_name
                if Path(path).resolve() != target.resolve():
                    shutil.move(str(path), target)
                files[name] = target
        return files

    def _finish_without_training(self, run: Run, reason: FailureReason, message: str) -> str:
        self.port.complete_run(
            run.id, self.worker_id, failed_without_training(run, reason, message)
        )
        return str(RunState.FAILED)
