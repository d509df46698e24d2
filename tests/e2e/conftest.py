"""`loopy up` as a newcomer runs it, in a subprocess with a tmp data dir and free ports."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.proctree import descendants
from tests.support.harness import TINY_RUN_CONFIG
from tests.support.servers import free_port, live

REPO = Path(__file__).resolve().parents[2]


class LoopyUp:
    """One `loopy up` process; `banner` holds what it printed up to "Ctrl-C stops everything."."""

    def __init__(self, data_dir: Path, harness_dir: Path, http_port: int, grpc_port: int) -> None:
        self.data_dir = data_dir
        self.http_port = http_port
        self.grpc_port = grpc_port
        env = {
            **os.environ,
            "LOOPY_WORKER_RUN_OPTIONS": json.dumps(TINY_RUN_CONFIG),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO),
        }
        for name in ("LOOPY_DATABASE_URL", "LOOPY_ARTIFACTS_URL", "LOOPY_BROKER_URL"):
            env.pop(name, None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "up",
                "--data-dir",
                str(data_dir),
                "--http-port",
                str(http_port),
                "--grpc-port",
                str(grpc_port),
                "--harness",
                str(harness_dir),
                "--budget",
                "2",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.banner = self._read_until("Ctrl-C stops everything.", timeout_s=180)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def _read_until(self, marker: str, timeout_s: float) -> str:
        seen: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            seen.append(line)
            if marker in line:
                return "".join(seen)
        raise AssertionError(f"`loopy up` did not print {marker!r}:\n{''.join(self.output)}")

    @property
    def key(self) -> str:
        return (self.data_dir / "admin.key").read_text().strip()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def curl_lines(self) -> list[str]:
        return [
            line.strip() for line in self.banner.splitlines() if line.strip().startswith("curl ")
        ]

    def interrupt(self, timeout_s: float = 40) -> list[int]:
        """Ctrl-C; returns the processes of the tree that are still alive afterwards."""
        tree = descendants(self.proc.pid)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=timeout_s)
        deadline = time.monotonic() + 5
        while live(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        return live(tree)

    def kill(self) -> None:
        if self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def up_factory(tmp_path_factory: pytest.TempPathFactory, tiny_harness_dir: Path) -> Iterator[Any]:
    """Start `loopy up` (again) on one data dir and one pair of ports; all stopped at the end."""
    data_dir = tmp_path_factory.mktemp("loopy-up")
    ports = (free_port(), free_port())
    started: list[LoopyUp] = []

    def start() -> LoopyUp:
        up = LoopyUp(data_dir, tiny_harness_dir, *ports)
        started.append(up)
        return up

    yield start
    for up in started:
        up.kill()


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a person's shell next to `loopy up`: no LOOPY_URL or key,
    only the data dir (the CLI finds the service and its admin key there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPY_")}
    env.update({"LOOPY_DATA_DIR": str(data_dir), "PYTHONPATH": _pythonpath(), "COLUMNS": "200"})
    env.update(extra)
    return env


def _pythonpath() -> str:
    parts = [str(REPO), str(REPO / "clients" / "python"), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in parts if p)


@pytest.fixture(scope="module")
def loopy_cli() -> Any:
    """Run `loopy ARGS...` (as `python -m service.cli`) next to a `loopy up`."""

    def run(
        data_dir: Path, *args: str, timeout_s: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            cwd=REPO,
            env=cli_env(data_dir, **env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    return run


@pytest.fixture(scope="module")
def wait_for_calibration() -> Any:
    """wait(up): until the baseline track's calibration runs have all finished."""
    return lambda up: wait_calibrated(up.base_url, up.key)


def wait_calibrated(base_url: str, key: str, timeout_s: float = 300) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = httpx.get(
            f"{base_url}/v1/tracks/baseline/runs",
            params={"page_size": 50},
            headers=headers,
            timeout=10,
        ).json()["runs"]
        calibration = [r for r in runs if r["purpose"] == "CALIBRATION"]
        if calibration and all(
            r["state"] in {"SUCCEEDED", "FAILED", "CANCELLED"} for r in calibration
        ):
            assert all(r["state"] == "SUCCEEDED" for r in calibration), calibration
            return
        time.sleep(0.5)
    raise AssertionError("the baseline track's calibration runs did not finish")


@pytest.fixture(scope="session")
def e2e() -> Any:
    """Helpers for the test modules (a conftest is not importable under importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(cli_env=cli_env, free_port=free_port, repo=REPO, LoopyUp=LoopyUp)
