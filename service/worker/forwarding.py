"""The two threads beside a running run: the Forwarder writes the metric points and log
text of the runner's callbacks to the store in small batches; the Heartbeat keeps the
run ours and notices when it no longer is (cancelled or reaped), so the child is killed.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog

from service.domain.models import MetricPoint
from service.worker.port import WorkerPort
from service.worker.ticker import Ticker

log = structlog.get_logger(__name__)

# Flushing metrics this often keeps "a watcher sees a point within 1 s" with
# room for the watcher's own polling.
METRIC_FLUSH_INTERVAL_S = 0.25
MAX_LOG_EVENT_CHARS = 32_000


def heartbeat_interval_for(timeout_s: float) -> float:
    """A few beats per timeout, at most every 2 s (a cancel is noticed on a beat)."""
    return max(0.2, min(2.0, timeout_s / 4))


class Forwarder:
    """Collects metric points and log text from the runner's callbacks (any
    thread) and writes them to the store in batches from one thread."""

    def __init__(self, port: WorkerPort, run_id: str, interval_s: float = METRIC_FLUSH_INTERVAL_S):
        self.port = port
        self.run_id = run_id
        self.interval_s = interval_s
        self._points: list[MetricPoint] = []
        self._log: list[str] = []
        self._lock = threading.Lock()
        self._ticker = Ticker(self.flush, interval_s, f"forward-{run_id}")
        self.points_sent = 0

    def on_metrics(self, points: list[dict[str, Any]]) -> None:
        batch = [
            MetricPoint(
                step=int(p["step"]),
                name=str(p["name"]),
                value=float(p["value"]),
                wall_seconds=float(p.get("wall_seconds", 0.0)),
            )
            for p in points
        ]
        with self._lock:
            self._points.extend(batch)

    def on_log(self, text: str) -> None:
        with self._lock:
            self._log.append(text)

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        """Stop the thread and write what is left (idempotent)."""
        self._ticker.stop()
        self.flush()

    def leftovers(self) -> tuple[list[MetricPoint], str]:
        """What the store did not take (it is down): handed to the spool."""
        with self._lock:
            points, self._points = self._points, []
            text, self._log = "".join(self._log), []
        return points, text

    def flush(self) -> None:
        with self._lock:
            points, self._points = self._points, []
            text, self._log = "".join(self._log), []
        try:
            if points:
                self.port.record_metrics(self.run_id, points)
                self.points_sent += len(points)
            for start in range(0, len(text), MAX_LOG_EVENT_CHARS):
                self.port.record_log(self.run_id, text[start : start + MAX_LOG_EVENT_CHARS])
        except Exception as exc:
            # The store is briefly unreachable: keep the batch for the next flush
            # (append_metrics overwrites by (step, name), so a retry is harmless).
            log.warning("run.forward_failed", run_id=self.run_id, error=str(exc))
            with self._lock:
                self._points[:0] = points
                if text:
                    self._log.insert(0, text)


class Heartbeat:
    """Beats for the run; when the domain answers False the run was cancelled (or
    reaped) and is no longer ours: set `cancel` so the runner kills the child."""

    def __init__(
        self,
        port: WorkerPort,
        run_id: str,
        worker_id: str,
        interval_s: float,
        cancel: threading.Event,
    ) -> None:
        self.port = port
        self.run_id = run_id
        self.worker_id = worker_id
        self.interval_s = interval_s
        self.cancel = cancel
        self.lost = threading.Event()  # the run is no longer RUNNING on this worker
        self._ticker = Ticker(self.beat, interval_s, f"heartbeat-{run_id}")

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def beat(self) -> None:
        try:
            alive = self.port.heartbeat(self.run_id, self.worker_id)
        except Exception as exc:  # a store blip must not kill a healthy run
            log.warning("run.heartbeat_failed", run_id=self.run_id, error=str(exc))
            return
        if not alive and not self.lost.is_set():
            log.info("run.stop_requested", run_id=self.run_id)
            self.lost.set()
            self.cancel.set()
