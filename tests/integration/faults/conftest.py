"""A scale-out stack the fault tests own entirely and break on purpose: their own
Redis (no persistence), their own PostgreSQL cluster (initdb into a temp dir), an
S3 server (moto) behind a TCP proxy the test can cut, and `loopy worker`
processes. Never the machine's shared services.

Intervals are short so the suite stays cheap: a lost message is re-published
after 3 s, a claim is retried for 4 s, a spooled result every <= 1 s."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.domain.models import (
    TERMINAL_RUN_STATES,
    DecisionPolicy,
    LaunchRunRequest,
    Run,
    RunEventType,
    RunState,
)
from service.domain.service import CreateHarnessRequest, CreateTrackRequest
from service.proctree import stop_process_tree
from service.settings import load_settings
from service.wiring import build_core
from tests.support.harness import TINY_BUDGET_S, TINY_RUN_CONFIG
from tests.support.servers import free_port, wait_for_port
from tests.support.services import missing
from tests.support.workers import REPO, start_worker, worker_events

BUDGET_S = TINY_BUDGET_S

FAST_RECOVERY_ENV = {
    "LOOPY_REQUEUE_AFTER_S": "3",
    "LOOPY_CLAIM_RETRY_WINDOW_S": "4",
    "LOOPY_SPOOL_RETRY_MAX_INTERVAL_S": "1",
    "LOOPY_HEARTBEAT_TIMEOUT_S": "8",
    "LOOPY_WORKER_SHUTDOWN_GRACE_S": "0",
    "LOOPY_READY_CACHE_S": "0",
}


# --- the services ------------------------------------------------------------------


class RedisServer:
    """redis-server on a free port with no persistence: a restart starts empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A private PostgreSQL cluster; as root it runs as the `postgres` user."""

    def __init__(self) -> None:
        bin_dir = _pg_bin()
        if bin_dir is None:
            missing("no PostgreSQL binaries under /usr/lib/postgresql")
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="loopy-faults-pg-"))
        self.data = self.root / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *self._as_user,
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *self._as_user,
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.root}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        time.sleep(0.3)  # accepting connections slightly after the port opens

    def stop(self) -> None:
        """Immediate shutdown: every open connection breaks, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(
                [
                    *self._as_user,
                    str(self.bin / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class S3Server:
    """moto's S3 server as a subprocess: a restart starts with no bucket at all."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class TcpProxy:
    """Forwards 127.0.0.1:port to a target port; `cut()` resets every connection
    and refuses new ones (accepted, then closed) until `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cut_off = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), 2)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def cut(self) -> None:
        self.cut_off.set()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for s in conns:
            _reset(s)

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()


def _reset(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        s.close()


# --- the stack -----------------------------------------------------------------------


class FaultStack:
    def __init__(self, root: Path, harness_dir: Path) -> None:
        self.root = root
        self.redis = RedisServer(root)
        self.pg = PostgresServer()
        self.s3 = S3Server()
        self.redis.start()
        self.pg.start()
        self.s3.start()
        self.s3_proxy = TcpProxy(self.s3.port)
        self.queue = f"cpu-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "LOOPY_DATA_DIR": str(root / "data"),
            "LOOPY_DATABASE_URL": self.pg.url,
            "LOOPY_BROKER_URL": self.redis.url,
            "LOOPY_ARTIFACTS_URL": "s3://loopy-faults",
            "LOOPY_S3_ENDPOINT": f"http://127.0.0.1:{self.s3_proxy.port}",
            "LOOPY_S3_ACCESS_KEY": "loopy-test",
            "LOOPY_S3_SECRET_KEY": "loopy-test-secret",
            "LOOPY_LOG_FORMAT": "json",
            "LOOPY_LOG_LEVEL": "info",
            "LOOPY_WORKER_RUN_OPTIONS": json.dumps(TINY_RUN_CONFIG),
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",  # worker logs reach their files as they happen
            "PYTHONPATH": str(REPO),
            **FAST_RECOVERY_ENV,
        }
        self.settings = load_settings(environ=self.env)
        self.core = build_core(self.settings)
        self.admin_key = self.core.bootstrap_admin("faults-admin").api_key
        self.admin = self.core.authenticate(self.admin_key)
        self.harness_id = self.core.create_harness(
            self.admin, CreateHarnessRequest(path=str(harness_dir))
        ).id
        self.workers: dict[str, subprocess.Popen[Any]] = {}
        self.track_id = ""

    # --- workers
    def start_worker(self, name: str, **extra_env: str) -> subprocess.Popen[Any]:
        # One spool per worker slot ("a", "a2", ... share one): a restarted worker finds
        # what its predecessor left, as a restarted container finds its volume.
        slot = name.rstrip("0123456789")
        env = {
            **self.env,
            "LOOPY_WORKER_SPOOL_DIR": str(self.root / f"spool-{slot}"),
            **extra_env,
        }
        proc = start_worker(self.root, name, self.queue, env)
        self.workers[name] = proc
        return proc

    def wait_for_consumers(self, count: int, timeout_s: float = 120.0) -> None:
        app = self.core.dispatcher.app  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeout_s
        while True:
            try:  # a connection from before a broker restart fails once, then reconnects
                if len(app.control.ping(timeout=0.5) or []) >= count:
                    return
            except Exception:
                pass
            time.sleep(0.2)
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} workers did not answer a ping\n{self.logs()}")

    def spooled(self) -> list[Path]:
        """Spool entries waiting for delivery, across all worker slots."""
        return sorted(self.root.glob("spool-*/run_*/entry.json"))

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker and its children (a crash: nothing is handed back)."""
        proc = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def worker_of(self, run: Run) -> str:
        pid = int((run.worker_id or "::").split(":")[1])
        return next(name for name, p in self.workers.items() if p.pid == pid)

    # --- runs
    def make_track(self, budget_s: float = BUDGET_S) -> str:
        track_id = f"faults-{uuid.uuid4().hex[:6]}"
        self.core.create_track(
            self.admin,
            CreateTrackRequest(
                track_id=track_id,
                harness_id=self.harness_id,
                device_class=self.queue,
                time_budget_s=budget_s,
                policy=DecisionPolicy(calibration_runs=1, replicates=2),
            ),
        )
        self.track_id = track_id
        return track_id

    def launch(self, count: int) -> list[str]:
        return [
            self.core.launch_run(self.admin, LaunchRunRequest(track_id=self.track_id)).id
            for _ in range(count)
        ]

    def runs(self, run_ids: list[str]) -> list[Run] | None:
        """The runs, or None while the database does not answer."""
        try:
            found = [self.core.meta.get_run(run_id) for run_id in run_ids]
        except Exception:
            return None
        return [r for r in found if r is not None]

    def wait_until(self, what: str, check: Callable[[], bool], timeout_s: float) -> float:
        started = time.monotonic()
        while True:
            with contextlib.suppress(Exception):
                if check():
                    return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise AssertionError(
                    f"timed out after {timeout_s} s waiting for {what}\n{self.logs()}"
                )
            time.sleep(0.1)

    def wait_terminal(self, run_ids: list[str], timeout_s: float) -> list[Run]:
        def done() -> bool:
            runs = self.runs(run_ids)
            return runs is not None and all(r.state in TERMINAL_RUN_STATES for r in runs)

        self.wait_until(f"runs {run_ids} to end", done, timeout_s)
        runs = self.runs(run_ids)
        assert runs is not None
        return runs

    def running(self, run_ids: list[str], count: int) -> Callable[[], bool]:
        def check() -> bool:
            runs = self.runs(run_ids) or []
            return sum(r.state is RunState.RUNNING for r in runs) >= count

        return check

    def seen_training(self, run_ids: list[str]) -> Callable[[], bool]:
        """Every run has been seen RUNNING with metrics at least once (they may end
        at different times)."""
        seen: set[str] = set()

        def check() -> bool:
            seen.update(r for r in run_ids if r not in seen and self.training(r)())
            return seen == set(run_ids)

        return check

    def training(self, run_id: str) -> Callable[[], bool]:
        """The run is RUNNING and its child has reported metrics."""

        def check() -> bool:
            run = self.core.meta.get_run(run_id)
            points = self.core.meta.get_metrics(run_id, None, None, 1)
            return run is not None and run.state is RunState.RUNNING and bool(points)

        return check

    def state_history(self, run_id: str) -> list[str]:
        return [
            str(e.data["state"])
            for e in self.core.meta.list_events(run_id, 0, 1000)
            if e.type is RunEventType.STATE
        ]

    def report(self, fault: str, run_ids: list[str], recover_s: float) -> dict[str, Any]:
        """Figures per fault (printed; run pytest with -s to see them)."""
        runs = self.runs(run_ids) or []
        starts = Counter(e["run_id"] for e in self.worker_events("run.started"))
        figures = {
            "fault": fault,
            "launched": len(run_ids),
            "succeeded": sum(r.state is RunState.SUCCEEDED for r in runs),
            "retried": sum(starts[r.id] > 1 for r in runs),
            "lost": sum(r.state in (RunState.FAILED, RunState.CANCELLED) for r in runs),
            "stuck": sum(r.state not in TERMINAL_RUN_STATES for r in runs),
            "recover_s": round(recover_s, 1),
        }
        print("FAULT-FIGURES " + json.dumps(figures))
        return figures

    def assert_all_succeeded_once_with_artifacts(self, run_ids: list[str]) -> None:
        import hashlib

        runs = self.runs(run_ids)
        assert runs is not None and len(runs) == len(run_ids)
        for run in runs:
            assert run.state is RunState.SUCCEEDED, (
                run.id,
                run.failure_reason,
                run.failure_message,
            )
            assert self.state_history(run.id).count("SUCCEEDED") == 1
            assert run.summary is not None
            for name in ("source", "checkpoint"):
                ref = run.summary.artifacts[name]
                data = self.core.artifacts.get_bytes(ref.key)
                assert hashlib.sha256(data).hexdigest() == ref.sha256, (run.id, name)

    # --- logs
    def logs(self) -> str:
        out = []
        with contextlib.suppress(Exception):
            queued = self.core.meta.list_runs(track_id=self.track_id, page_size=50)[0]
            out.append(
                "runs: " + ", ".join(f"{r.id}={r.state.value}@{r.worker_id}" for r in queued)
            )
        out.append(
            "workers: " + ", ".join(f"{n}={p.pid}/{p.poll()}" for n, p in self.workers.items())
        )
        for path in sorted(self.root.glob("worker-*.log")):
            lines = [
                line
                for line in path.read_text(errors="replace").splitlines()
                if "unreachable" not in line  # outage noise
            ]
            out.append(f"--- {path.name}\n" + "\n".join(lines[-40:]))
        return "\n".join(out)

    def worker_events(self, event: str) -> list[dict[str, Any]]:
        return worker_events(self.root, event)

    def close(self) -> None:
        for proc in self.workers.values():
            with contextlib.suppress(Exception):
                stop_process_tree(proc, grace_s=10)
        with contextlib.suppress(Exception):
            self.core.meta.close()
        self.s3_proxy.close()
        self.s3.stop()
        self.redis.stop()
        self.pg.remove()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_harness_dir: Path) -> Iterator[FaultStack]:
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed")
    root = tmp_path_factory.mktemp("faults")
    stack = FaultStack(root, tiny_harness_dir)
    try:
        stack.make_track()
        stack.start_worker("a")
        stack.start_worker("b")
        stack.wait_for_consumers(2)
        yield stack
    finally:
        stack.close()
