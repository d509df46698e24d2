"""The worker's spool: finished work waits here until the stores take it.

A run's result (its outcome, the metric points and log text not yet stored) and
its artifact files are moved into `spool_dir/<run_id>/` as soon as training ends,
before anything is sent. Delivery then uploads the artifacts and records the
outcome, retried with jittered, doubling waits (capped by
`spool_retry_max_interval_s`) for as long as the database or the object store
is down. A worker that restarts delivers what its predecessor left, under the
predecessor's worker id, so a result that was trained is never trained again
unless the run was meanwhile handed to someone else.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from pathlib import Path

import msgspec
import structlog

from service.domain.errors import LoopyError, as_unavailable
from service.domain.models import ArtifactRef, MetricPoint, RunOutcome
from service.worker.port import WorkerPort

log = structlog.get_logger(__name__)

ENTRY_FILE = "entry.json"
FIRST_RETRY_S = 0.5


class SpoolEntry(msgspec.Struct, kw_only=True):
    run_id: str
    worker_id: str  # the worker that trained it: the store accepts the result from it only
    outcome: RunOutcome  # artifacts are added on delivery
    files: dict[str, str]  # artifact name -> file name inside the entry's directory
    points: list[MetricPoint] = msgspec.field(default_factory=list)
    log_text: str = ""


class Delivery:
    DELIVERED = "delivered"
    DROPPED = "dropped"  # the run is no longer this worker's (cancelled, reaped, done)
    STOPPED = "stopped"  # the worker is stopping: left in the spool for the next one


def is_infrastructure_error(exc: BaseException) -> bool:
    """A store or broker that did not answer: worth retrying, never the run's fault."""
    return as_unavailable(exc) is not None or (
        isinstance(exc, OSError) and not isinstance(exc, LoopyError)
    )


class Spool:
    def __init__(self, root: str | Path, port: WorkerPort, max_interval_s: float) -> None:
        self.root = Path(root)
        self.port = port
        self.max_interval_s = max(FIRST_RETRY_S, max_interval_s)
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, entry: SpoolEntry, files: dict[str, Path]) -> Path:
        """Move the files in and write the entry; the directory appears atomically."""
        final = self.root / entry.run_id
        staging = self.root / f".{entry.run_id}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        names: dict[str, str] = {}
        for name, path in files.items():
            target = staging / path.name
            shutil.move(str(path), target)
            names[name] = path.name
        entry.files = names
        (staging / ENTRY_FILE).write_bytes(msgspec.json.encode(entry))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        return final

    def pending(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if (p / ENTRY_FILE).is_file())

    def deliver(self, path: Path, stop: threading.Event | None = None) -> str:
        """Deliver one entry, retrying infrastructure failures until `stop` is set."""
        attempt = 0
        while True:
            try:
                return self.deliver_once(path)
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    log.error("spool.undeliverable", entry=path.name, error=repr(exc))
                    shutil.rmtree(path, ignore_errors=True)
                    return Delivery.DROPPED
                wait_s = min(self.max_interval_s, FIRST_RETRY_S * 2**attempt)
                wait_s *= random.uniform(0.5, 1.0)  # jitter: workers do not retry in step
                attempt += 1
                log.warning(
                    "spool.retry",
                    run_id=path.name,
                    attempt=attempt,
                    wait_s=round(wait_s, 2),
                    error=str(exc),
                )
            if stop is not None:
                if stop.wait(wait_s):
                    return Delivery.STOPPED
            else:
                time.sleep(wait_s)

    def deliver_once(self, path: Path) -> str:
        entry = msgspec.json.decode((path / ENTRY_FILE).read_bytes(), type=SpoolEntry)
        if not self.port.heartbeat(entry.run_id, entry.worker_id):  # not RUNNING on it
            log.info("spool.dropped", run_id=entry.run_id, reason="no longer this worker's run")
            shutil.rmtree(path, ignore_errors=True)
            return Delivery.DROPPED
        if entry.points:
            self.port.record_metrics(entry.run_id, entry.points)
        if entry.log_text:
            self.port.record_log(entry.run_id, entry.log_text)
        artifacts: dict[str, ArtifactRef] = {}
        upload_started = time.monotonic()
        for name, file_name in sorted(entry.files.items()):
            file_path = path / file_name
            with open(file_path, "rb") as f:
                artifacts[name] = self.port.upload_run_file(
                    entry.run_id, file_name, f, file_path.stat().st_size
                )
        outcome = entry.outcome
        if outcome.summary is not None:
            summary = outcome.summary
            overhead = msgspec.structs.replace(
                summary.overhead, upload_seconds=time.monotonic() - upload_started
            )
            summary = msgspec.structs.replace(summary, artifacts=artifacts, overhead=overhead)
            outcome = msgspec.structs.replace(outcome, summary=summary)
        done = self.port.complete_run(entry.run_id, entry.worker_id, outcome)
        shutil.rmtree(path, ignore_errors=True)
        log.info(
            "spool.delivered",
            run_id=entry.run_id,
            state=str(outcome.state),
            recorded=done is not None,
        )
        return Delivery.DELIVERED if done is not None else Delivery.DROPPED


class SpoolDrainer:
    """Delivers, in the background, what an earlier worker process left in the spool."""

    def __init__(self, spool: Spool, stop: threading.Event) -> None:
        self.spool = spool
        self.stop = stop
        self._thread = threading.Thread(target=self._run, name="spool-drainer", daemon=True)

    def start(self) -> SpoolDrainer:
        self._thread.start()
        return self

    def _run(self) -> None:
        for path in self.spool.pending():
            if self.stop.is_set():
                return
            log.info("spool.redeliver", run_id=path.name)
            self.spool.deliver(path, self.stop)
