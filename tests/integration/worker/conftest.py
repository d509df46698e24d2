"""A real execution stack for the worker tests: stores picked by URL, the Celery
dispatcher, and `loopy worker` processes started as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.domain.models import TERMINAL_RUN_STATES, DecisionPolicy, Run
from service.domain.service import CreateHarnessRequest, CreateTrackRequest
from service.proctree import descendants, stop_process_tree
from service.settings import load_settings
from service.wiring import build_core
from tests.support.harness import TINY_RUN_CONFIG
from tests.support.servers import live
from tests.support.workers import REPO, start_worker, worker_events


class Stack:
    """The API side (a core in this process) and any number of worker processes."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.queue = f"cpu-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "LOOPY_DATA_DIR": str(data_dir),
            "LOOPY_LOG_FORMAT": "json",
            "LOOPY_LOG_LEVEL": "info",
            "LOOPY_WORKER_RUN_OPTIONS": json.dumps(TINY_RUN_CONFIG),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO),
            **env,
        }
        self.settings = load_settings(environ=self.env)
        self.core = build_core(self.settings)
        self.admin = self.core.authenticate(self.core.bootstrap_admin("test-admin").api_key)
        self.workers: dict[str, subprocess.Popen[Any]] = {}

    # --- set-up
    def register(self, harness_dir: Path) -> str:
        return self.core.create_harness(self.admin, CreateHarnessRequest(path=str(harness_dir))).id

    def track(
        self, harness_id: str, *, budget_s: float, calibration_runs: int = 1, name: str = "t"
    ):
        track_id = f"{name}-{uuid.uuid4().hex[:6]}"
        return self.core.create_track(
            self.admin,
            CreateTrackRequest(
                track_id=track_id,
                harness_id=harness_id,
                device_class=self.queue,
                time_budget_s=budget_s,
                policy=DecisionPolicy(calibration_runs=calibration_runs, replicates=2),
            ),
        )

    def start_worker(self, name: str) -> subprocess.Popen[Any]:
        proc = start_worker(self.data_dir, name, self.queue, self.env)
        self.workers[name] = proc
        return proc

    # --- observation
    def run(self, run_id: str) -> Run:
        run = self.core.meta.get_run(run_id)
        assert run is not None
        return run

    def wait(self, run_ids: list[str], timeout_s: float, states=TERMINAL_RUN_STATES) -> list[Run]:
        deadline = time.monotonic() + timeout_s
        while True:
            runs = [self.run(run_id) for run_id in run_ids]
            if all(r.state in states for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"runs not in {sorted(states)} after {timeout_s} s: "
                    f"{[(r.id, r.state) for r in runs]}\n{self.worker_logs()}"
                )
            time.sleep(0.1)

    def worker_logs(self) -> str:
        out = []
        for path in sorted(self.data_dir.glob("worker-*.log")):
            out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)

    def worker_events(self, event: str) -> list[dict[str, Any]]:
        return worker_events(self.data_dir, event)

    def close(self) -> None:
        for proc in self.workers.values():
            stop_process_tree(proc, grace_s=10)
        self.core.meta.close()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Any]:
    """`make_stack(**env)` -> a Stack on its own data dir; all closed at teardown."""
    stacks: list[Stack] = []

    def make(**env: str) -> Stack:
        data_dir = tmp_path / f"stack{len(stacks)}"
        data_dir.mkdir()
        stack = Stack(data_dir, env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


class Helpers:
    descendants = staticmethod(descendants)

    @staticmethod
    def wait_until(predicate: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    live = staticmethod(live)


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers
