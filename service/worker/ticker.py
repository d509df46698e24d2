"""A daemon thread that calls one function every few seconds until it is stopped:
the shape of the forwarder, the heartbeat and the reaper."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Ticker:
    def __init__(self, tick: Callable[[], object], interval_s: float, name: str) -> None:
        self.tick = tick
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the tick in progress, if any (idempotent; fine before start)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()
