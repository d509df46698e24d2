"""The reaper: nothing stays RUNNING after its worker vanished.

Every worker process runs one (so does `loopy up`'s API process): it calls
`Loopy.reap_lost_runs` every few seconds. A run without a heartbeat for
`heartbeat_timeout_s` is re-queued once, then ends FAILED / WORKER_LOST.
Several reapers at once are safe: every change is a conditional transition in
the metadata store, so exactly one of them wins each run.
"""

from __future__ import annotations

import threading

import structlog

from service.domain.service import Loopy

log = structlog.get_logger(__name__)


def reap_interval_for(timeout_s: float) -> float:
    return max(0.5, min(15.0, timeout_s / 3))


class Reaper:
    def __init__(self, core: Loopy, interval_s: float) -> None:
        self.core = core
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reaper", daemon=True)

    def start(self) -> Reaper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def reap_once(self) -> int:
        try:
            changed = self.core.reap_lost_runs()
        except Exception as exc:  # the store is unreachable: try again next round
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

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.reap_once()
