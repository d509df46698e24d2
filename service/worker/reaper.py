"""The reaper and sweeper: nothing stays RUNNING after its worker vanished, and
nothing stays QUEUED after its message was lost.

Every worker process runs one (so does `loopy up`'s API process): every few
seconds it calls `reap_lost_runs` (a run without a heartbeat for
`heartbeat_timeout_s` is re-queued once, then ends FAILED / WORKER_LOST) and
`requeue_unclaimed_runs` (a QUEUED run not claimed `requeue_after_s` after
its last publish is published again). Several at once are safe: every change is
a conditional transition in the metadata store and the claim admits one delivery.

After the metadata store was unreachable, reaping waits until the store has
answered for a whole heartbeat timeout: workers could not beat during the
outage, and their runs are alive.
"""

from __future__ import annotations

import time

import structlog

from service.worker.port import WorkerPort
from service.worker.ticker import Ticker

log = structlog.get_logger(__name__)


def reap_interval_for(timeout_s: float, requeue_after_s: float | None = None) -> float:
    interval = max(0.5, min(15.0, timeout_s / 3))
    if requeue_after_s is not None:
        interval = min(interval, max(0.5, requeue_after_s / 4))
    return interval


class Reaper:
    def __init__(self, port: WorkerPort, interval_s: float, healthy_for_s: float = 0.0) -> None:
        self.port = port
        self.interval_s = interval_s
        self.healthy_for_s = healthy_for_s
        self._healthy_since = time.monotonic()
        self._ticker = Ticker(self.round, interval_s, "reaper")

    def start(self) -> Reaper:
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._ticker.stop()

    def round(self) -> None:
        self.sweep_once()
        self.reap_once()

    def sweep_once(self) -> int:
        try:
            published = self.port.requeue_unclaimed_runs()
        except Exception as exc:  # the store is unreachable: try again next round
            self._healthy_since = time.monotonic()
            log.warning("sweeper.failed", error=str(exc))
            return 0
        return len(published)

    def reap_once(self) -> int:
        if time.monotonic() - self._healthy_since < self.healthy_for_s:
            return 0  # heartbeats missed during a store outage prove nothing
        try:
            changed = self.port.reap_lost_runs()
        except Exception as exc:  # the store is unreachable: try again next round
            self._healthy_since = time.monotonic()
            log.warning("reaper.failed", error=str(exc))
            return 0
        for run in changed:
            log.info(
                "run.reaped",
                run_id=run.id,
                state=str(run.state),
                attempt=run.attempt,
                failure_reason=run.failure_reason,
            )
        return len(changed)
