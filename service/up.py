"""`loopy up`: the whole service on one machine with nothing to install.

The `up` process is the parent of the others. It prepares the data dir (SQLite, local
artifact directory, the embedded broker's folders), makes sure an admin key,
the demo harness and a `baseline` track exist, then runs the API (`loopy
serve`) and one worker (`loopy worker`) as child processes, each in its own
session so that a terminal's Ctrl-C reaches only this process, which then
stops them in order and kills anything they leave behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from service.proctree import die_with_parent, stop_process_tree
from service.settings import Settings, load_settings
from trainer.runner.devices import device_class_of

log = structlog.get_logger(__name__)

BASELINE_TRACK_ID = "baseline"
ADMIN_KEY_FILE = "admin.key"
# A CPU demo run long enough to learn something visible, short enough to watch.
DEFAULT_CPU_BUDGET_S = 60.0
API_START_TIMEOUT_S = 120.0


def local_device() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda:0"
    except Exception:  # no usable torch build: the CPU still works
        pass
    return "cpu"


def api_failure_reason(log_path: Path) -> str | None:
    """The one-line reason `loopy serve` printed before exiting (its last `loopy serve:` line)."""
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64_000))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith("loopy serve: "):
            return line.removeprefix("loopy serve: ")
    return None


def check_ports_free(settings: Settings) -> None:
    """Fail before starting anything when a port is taken, saying which flag moves it."""
    import socket

    from service.serve import bind_failure_message

    for what, host, port in (
        ("HTTP", settings.http_host, settings.http_port),
        ("gRPC", settings.grpc_host, settings.grpc_port),
    ):
        try:
            socket.create_server((host, port)).close()
        except OSError as exc:
            raise RuntimeError(bind_failure_message(what, host, port, exc)) from exc


# --- bootstrap ---------------------------------------------------------------


def ensure_admin_key(core: Any, data_dir: Path) -> str:
    """The admin key of this data dir: reused across restarts, created once."""
    from service.domain.errors import Unauthenticated

    path = data_dir / ADMIN_KEY_FILE
    if path.is_file():
        key = path.read_text().strip()
        try:
            core.authenticate(key)
            return key
        except Unauthenticated:
            log.warning("up.admin_key_stale", path=str(path))
    created = core.bootstrap_admin("admin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(created.api_key + "\n")
    os.chmod(path, 0o600)
    return str(created.api_key)


def ensure_baseline_track(
    core: Any,
    key: str,
    data_dir: Path,
    device: str,
    budget_s: float | None,
    harness_dir: str | None = None,
) -> Any:
    """The `baseline` track, created (with its harness) on the first start only."""
    from service.domain.errors import NotFound
    from service.domain.service import CreateHarnessRequest, CreateTrackRequest

    principal = core.authenticate(key)
    try:
        return core.get_track(principal, BASELINE_TRACK_ID)
    except NotFound:
        pass
    if harness_dir is None:
        demo_dir = data_dir / "demo-harness"
        if not (demo_dir / "manifest.json").is_file():
            from trainer.data.demo import build_demo_harness

            print("Building the demo harness (first start only)...", flush=True)
            build_demo_harness(demo_dir)
        harness_dir = str(demo_dir)
    harness = core.create_harness(
        principal, CreateHarnessRequest(path=str(Path(harness_dir).resolve()))
    )
    device_class = device_class_of(device)
    if budget_s is None and device_class == "cpu":
        budget_s = DEFAULT_CPU_BUDGET_S
    return core.create_track(
        principal,
        CreateTrackRequest(
            track_id=BASELINE_TRACK_ID,
            harness_id=harness.id,
            display_name="Baseline",
            description="The baseline train.py on the harness loopy up registered.",
            device_class=device_class,
            time_budget_s=budget_s,
            request_id="loopy-up-baseline",
        ),
    )


def try_lines(settings: Settings, key: str) -> list[str]:
    """What the banner suggests: the CLI (it finds this service and its key by
    itself), then the same loop over curl, launching the revision it proposed."""
    base = f"http://{settings.http_host}:{settings.http_port}"
    auth = f'-H "Authorization: Bearer {key}"'
    json_type = "-H 'Content-Type: application/json'"
    edit = (
        '{"search_replace": [{"search": "MATRIX_LR = ", "replace": "MATRIX_LR = 1.25 * "}], '
        '"description": "Muon LR x1.25"}'
    )
    return [
        f"loopy program {BASELINE_TRACK_ID}",
        f'loopy propose {BASELINE_TRACK_ID} --replace "MATRIX_LR = " "MATRIX_LR = 1.25 * " '
        '-m "Muon LR x1.25"',
        f"loopy launch {BASELINE_TRACK_ID} REVISION      # the revision id propose printed",
        "loopy watch RUN                     # the run id launch printed",
        "",
        "or with curl:",
        f"curl -s {auth} {base}/v1/tracks/{BASELINE_TRACK_ID}/program",
        f"curl -s {auth} {json_type} -d '{edit}' {base}/v1/tracks/{BASELINE_TRACK_ID}/revisions",
        f"curl -s {auth} {base}/v1/tracks/{BASELINE_TRACK_ID}/runs",
    ]


# --- supervisor --------------------------------------------------------------


class EmbeddedStack:
    def __init__(self, settings: Settings, device: str) -> None:
        self.settings = settings
        self.device = device
        self.data_dir = Path(settings.data_dir)
        self.log_dir = self.data_dir / "logs"
        self.procs: dict[str, subprocess.Popen[Any]] = {}
        self._stopping = threading.Event()

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The children import `service` the way this process did, installed or not.
        source_root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
        env.update(
            {
                "LOOPY_DATA_DIR": str(self.data_dir),
                "LOOPY_HTTP_HOST": self.settings.http_host,
                "LOOPY_HTTP_PORT": str(self.settings.http_port),
                "LOOPY_GRPC_HOST": self.settings.grpc_host,
                "LOOPY_GRPC_PORT": str(self.settings.grpc_port),
                "LOOPY_LOG_FORMAT": "json",
            }
        )
        # Ctrl-C should not wait out a run: hand it back at once (well within
        # service.proctree.STOP_GRACE_S); the next `loopy up` runs it, attempt unspent.
        env.setdefault("LOOPY_WORKER_SHUTDOWN_GRACE_S", "0")
        return env

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[Any]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", *argv],
            env=self.child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal Ctrl-C reaches only `loopy up`
            preexec_fn=die_with_parent,
        )
        out.close()
        self.procs[name] = proc
        return proc

    def start_api(self) -> None:
        self.start("api", ["serve"])

    def start_worker(self) -> None:
        self.start("worker", ["worker", "--device", self.device])

    def wait_for_api(self) -> None:
        import httpx

        url = f"http://{self.settings.http_host}:{self.settings.http_port}/healthz"
        deadline = time.monotonic() + API_START_TIMEOUT_S
        while time.monotonic() < deadline:
            api = self.procs["api"]
            if api.poll() is not None:
                reason = api_failure_reason(self.log_dir / "api.log")
                raise RuntimeError(
                    (reason + f" (more in {self.log_dir / 'api.log'})")
                    if reason
                    else f"the API exited with code {api.returncode}; see {self.log_dir / 'api.log'}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer on {url}")

    def watch(self) -> None:
        """Restart a worker that died (with a pause); stop if the API dies."""
        while not self._stopping.wait(1.0):
            api = self.procs.get("api")
            if api is not None and api.poll() is not None:
                print(f"The API exited (code {api.returncode}); stopping.", file=sys.stderr)
                return
            worker = self.procs.get("worker")
            if worker is not None and worker.poll() is not None:
                log.warning("up.worker_restart", code=worker.returncode)
                if self._stopping.wait(2.0):
                    return
                self.start_worker()

    def stop(self) -> None:
        self._stopping.set()
        # The worker first (it stops its training child), then the API.
        for name in ("worker", "api"):
            proc = self.procs.get(name)
            if proc is not None:
                stop_process_tree(proc)


def run_embedded(
    *,
    data_dir: str | None = None,
    http_port: int | None = None,
    grpc_port: int | None = None,
    device: str | None = None,
    budget_s: float | None = None,
    harness_dir: str | None = None,
) -> int:
    overrides: dict[str, Any] = {}
    if data_dir:
        overrides["data_dir"] = str(Path(data_dir).resolve())
    if http_port is not None:
        overrides["http_port"] = http_port
    if grpc_port is not None:
        overrides["grpc_port"] = grpc_port
    settings = load_settings(**overrides)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    _quiet_logging(settings)
    device = device or local_device()

    stop_requested = threading.Event()

    def _request_stop(signum: int, _frame: Any) -> None:
        stop_requested.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)

    try:
        check_ports_free(settings)
    except RuntimeError as exc:
        print(f"loopy up: {exc}", file=sys.stderr)
        return 1
    stack = EmbeddedStack(settings, device)
    try:
        from service.wiring import build_core

        # The worker starts at once: it imports torch while the rest is prepared.
        stack.start_worker()
        stack.start_api()
        core = build_core(settings)
        key = ensure_admin_key(core, Path(settings.data_dir))
        track = ensure_baseline_track(
            core, key, Path(settings.data_dir), device, budget_s, harness_dir
        )
        stack.wait_for_api()
        _print_banner(settings, key, device, track)
        stack.watch()
        return 0 if stop_requested.is_set() else 1
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        print(f"loopy up: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Stopping...", flush=True)
        stack.stop()
        print("Stopped.", flush=True)


def _quiet_logging(settings: Settings) -> None:
    """The terminal is for the banner; the API and the worker log to DATA_DIR/logs."""
    import msgspec

    from service.log import configure_logging

    configure_logging(msgspec.structs.replace(settings, log_level="warning"))


def _print_banner(settings: Settings, key: str, device: str, track: Any) -> None:
    key_path = Path(settings.data_dir) / ADMIN_KEY_FILE
    lines = [
        "",
        "Loopy is up.",
        f"  HTTP   http://{settings.http_host}:{settings.http_port}  "
        f"(OpenAPI: /schema/openapi.json)",
        f"  gRPC   {settings.grpc_host}:{settings.grpc_port}",
        f"  worker {device}  (logs in {Path(settings.data_dir) / 'logs'})",
        f"  data   {settings.data_dir}",
        f"  track  {track.id}  ({track.time_budget_s:g} s per run)",
        "",
        f"Admin key (also in {key_path}):",
        f"  {key}",
        "",
        "Try (the loopy CLI finds this service and its key by itself):",
        *[f"  {line}" if line else "" for line in try_lines(settings, key)],
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)
