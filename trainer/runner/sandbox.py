"""Run one untrusted child process, contained (SPEC §4).

What a child gets:
- a scrubbed environment (PATH, HOME = its work dir, TMPDIR, LANG, thread counts, the
  GPU it may use, and what the caller adds explicitly): nothing of the parent's;
- its own working directory;
- resource limits: RLIMIT_AS (CPU only: CUDA reserves huge virtual ranges), RLIMIT_NPROC,
  RLIMIT_FSIZE, RLIMIT_NOFILE, no core dumps; where a cgroup is writable, also a memory
  and a pids cgroup (the only memory bound on CUDA, and the process bound for root,
  whom RLIMIT_NPROC does not bind);
- new user, network and PID namespaces when the platform permits (`unshare -rnpf`): no
  network at all, not even loopback, and every descendant dies with the child;
- its own session, so the whole process group is killed on timeout or cancel;
- stdout and stderr captured to a file, capped, with the tail kept in memory.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

TAIL_BYTES = 16 << 10


@dataclass(frozen=True)
class Isolation:
    network: bool  # a new, empty network namespace
    pid_namespace: bool  # descendants die with the child
    detail: str


@cache
def probe_isolation() -> Isolation:
    """Can this process start children in new user+network(+PID) namespaces?"""
    unshare = shutil.which("unshare")
    if unshare is None:
        return Isolation(False, False, "util-linux `unshare` not found: no network namespace")
    tries = [([unshare, "-rnpf", "--kill-child", "true"], True), ([unshare, "-rn", "true"], False)]
    errors = []
    for argv, with_pid in tries:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=10, env={})
        except (OSError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))
            continue
        if done.returncode == 0:
            how = "user+network+PID namespaces" if with_pid else "user+network namespaces"
            return Isolation(True, with_pid, f"{how} via {unshare}")
        errors.append(done.stderr.decode(errors="replace").strip())
    return Isolation(False, False, "namespaces not permitted here: " + "; ".join(errors))


def isolation_prefix(isolation: Isolation) -> list[str]:
    unshare = shutil.which("unshare") or "unshare"
    if isolation.pid_namespace:
        return [unshare, "-rnpf", "--kill-child", "--"]
    if isolation.network:
        return [unshare, "-rn", "--"]
    return []


# --- cgroups ------------------------------------------------------------------


class Cgroup:
    """A child cgroup (v1 or v2) created under our own, for memory and process limits."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs  # controller -> cgroup directory ("memory", "pids")

    @classmethod
    def create(cls, name: str, memory_mb: int | None, max_tasks: int) -> tuple[Cgroup | None, str]:
        """(cgroup, detail); (None, why) when no cgroup could be made."""
        root = Path("/sys/fs/cgroup")
        try:
            own = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError as exc:
            return None, f"cannot read /proc/self/cgroup: {exc}"
        parents: dict[str, Path] = {}
        if (root / "cgroup.controllers").exists():  # unified v2 hierarchy
            path = next((line.split(":", 2)[2] for line in own if line.startswith("0::")), "/")
            for controller in ("memory", "pids"):
                parents[controller] = root / path.lstrip("/")
        else:
            for line in own:
                _, controllers, path = line.split(":", 2)
                for controller in controllers.split(","):
                    if controller in ("memory", "pids") and (root / controller).is_dir():
                        parents[controller] = root / controller / path.lstrip("/")
        dirs: dict[str, Path] = {}
        problems = []
        for controller, parent in parents.items():
            directory = parent / name
            try:
                directory.mkdir(exist_ok=True)
                if controller == "memory" and memory_mb:
                    limit = str(memory_mb << 20)
                    v1 = directory / "memory.limit_in_bytes"
                    (v1 if v1.exists() else directory / "memory.max").write_text(limit)
                    swap = directory / "memory.memsw.limit_in_bytes"
                    if swap.exists():  # no escaping into swap
                        with contextlib.suppress(OSError):
                            swap.write_text(limit)
                if controller == "pids":
                    (directory / "pids.max").write_text(str(max_tasks))
                dirs[controller] = directory
            except OSError as exc:
                problems.append(f"{controller}: {exc.strerror or exc}")
                with contextlib.suppress(OSError):
                    directory.rmdir()
        if not dirs:
            return None, "no writable cgroup" + (f" ({'; '.join(problems)})" if problems else "")
        return cls(dirs), "cgroup " + ", ".join(f"{c} at {d}" for c, d in dirs.items())

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.procs_files():
            with contextlib.suppress(OSError, ValueError):
                found.update(int(x) for x in Path(path).read_text().split())
        return sorted(found)

    def oom_killed(self) -> bool:
        memory = self.dirs.get("memory")
        if memory is None:
            return False
        for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
            with contextlib.suppress(OSError, ValueError):
                for line in (memory / name).read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == key and int(parts[1]) > 0:
                        return True
        with contextlib.suppress(OSError, ValueError):  # v1 without the oom_kill counter
            return int((memory / "memory.failcnt").read_text()) > 0
        return False

    def destroy(self) -> None:
        for directory in self.dirs.values():
            for _ in range(50):  # the kernel empties a cgroup shortly after its last exit
                try:
                    directory.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)


# --- the child ------------------------------------------------------------------


@dataclass
class Limits:
    memory_mb: int | None
    address_space: bool  # enforce memory_mb with RLIMIT_AS too (not on CUDA)
    max_processes: int
    max_file_size_mb: int
    max_open_files: int
    log_cap_bytes: int


@dataclass
class SandboxReport:
    network_isolated: bool
    pid_namespace: bool
    memory: str
    processes: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# glibc malloc: keep freed memory up to 32 MB blocks in the heap instead of returning it to
# the kernel. Eager torch on CPU allocates a fresh activation tensor per op; by default every
# one over ~128 KB is a new mmap whose pages fault in on first touch, which made element-wise
# ops 3-4x slower than the arithmetic (measured in bench/train_throughput.py).
ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # the largest value glibc accepts
    "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
}


def scrubbed_env(workdir: Path, device: str, threads: int, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir / "tmp"),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "CUDA_VISIBLE_DEVICES": visible_device(device),
        **ALLOCATOR_ENV,
    }
    env.update(extra)
    return env


def visible_device(device: str) -> str:
    """CUDA_VISIBLE_DEVICES for a child that may use `device` (as its cuda:0), or none."""
    if not device.startswith("cuda"):
        return ""  # hide every GPU from CPU runs
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    ours = os.environ.get("CUDA_VISIBLE_DEVICES")
    if ours:  # the parent is itself restricted: index into its own list
        visible = [d for d in ours.split(",") if d.strip()]
        return visible[index] if index < len(visible) else str(index)
    return str(index)


class Sandboxed:
    """One running child; `wait`, `kill`, then read `returncode` and the log tail."""

    def __init__(
        self,
        argv: list[str],
        workdir: Path,
        env: dict[str, str],
        limits: Limits,
        log_path: Path,
        pass_fds: tuple[int, ...] = (),
        network_isolation: bool = True,
        on_log: Callable[[str], None] | None = None,
        name: str = "loopy",
    ) -> None:
        isolation = probe_isolation() if network_isolation else Isolation(False, False, "off")
        self.cgroup, cgroup_detail = Cgroup.create(
            f"{name}-{os.getpid()}-{time.monotonic_ns()}", limits.memory_mb, limits.max_processes
        )
        memory = []
        if limits.address_space and limits.memory_mb:
            memory.append(f"RLIMIT_AS {limits.memory_mb} MB")
        if self.cgroup and "memory" in self.cgroup.dirs and limits.memory_mb:
            memory.append(f"cgroup {limits.memory_mb} MB")
        processes = f"RLIMIT_NPROC {limits.max_processes}"
        if os.geteuid() == 0:
            processes += " (not binding for root)"
        if self.cgroup and "pids" in self.cgroup.dirs:
            processes += f", cgroup pids.max {limits.max_processes}"
        self.report = SandboxReport(
            network_isolated=isolation.network,
            pid_namespace=isolation.pid_namespace,
            memory=", ".join(memory) or f"none enforced ({cgroup_detail})",
            processes=processes,
            detail=f"{isolation.detail}; {cgroup_detail}",
        )
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        cgroup_files = self.cgroup.procs_files() if self.cgroup else []

        def contain() -> None:  # runs in the child between fork and exec: syscalls only
            pid = str(os.getpid()).encode()
            for path in cgroup_files:
                fd = os.open(path, os.O_WRONLY)
                os.write(fd, pid)
                os.close(fd)
            if limits.address_space and limits.memory_mb:
                size = limits.memory_mb << 20
                resource.setrlimit(resource.RLIMIT_AS, (size, size))
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes,) * 2)
            file_size = limits.max_file_size_mb << 20
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
            resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files,) * 2)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        self.log_path = log_path
        self._log_cap = limits.log_cap_bytes
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self.log_dropped_bytes = 0
        self._on_log = on_log
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            isolation_prefix(isolation) + argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            start_new_session=True,
            preexec_fn=contain,
        )
        self._reader = threading.Thread(target=self._pump_log, daemon=True)
        self._reader.start()

    def _pump_log(self) -> None:
        assert self.proc.stdout is not None
        written = 0
        pending = b""
        with open(self.log_path, "wb") as log:
            while chunk := self.proc.stdout.read1(65536):  # type: ignore[attr-defined]
                self._tail.append(chunk)
                self._tail_size += len(chunk)
                while self._tail_size - len(self._tail[0]) >= TAIL_BYTES:
                    self._tail_size -= len(self._tail.popleft())
                room = self._log_cap - written
                if room <= 0:
                    self.log_dropped_bytes += len(chunk)
                    continue
                kept = chunk[:room]
                self.log_dropped_bytes += len(chunk) - len(kept)
                log.write(kept)
                log.flush()
                written += len(kept)
                if self._on_log is not None:
                    pending += kept
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self._on_log(line.decode(errors="replace"))
            if pending and self._on_log is not None:
                self._on_log(pending.decode(errors="replace"))
            if self.log_dropped_bytes:
                log.write(f"\n[loopy: {self.log_dropped_bytes} more bytes dropped]\n".encode())

    def follow(self, log_path: Path, on_log: Callable[[str], None] | None) -> None:
        """The log file was moved to `log_path` (its open handle keeps writing there);
        from now on, forward the child's output to `on_log`."""
        self.log_path = log_path
        self._on_log = on_log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Kill the child, its process group and everything in its cgroup."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.cgroup:
            for pid in self.cgroup.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def finish(self) -> int:
        """After the child ended (or to end it): kill stragglers, collect the log, clean up."""
        self.kill()
        returncode = self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.cgroup:
            self.cgroup.destroy()
        return returncode

    def oom_killed(self) -> bool:
        return bool(self.cgroup and self.cgroup.oom_killed())

    def tail(self, max_bytes: int = 4000) -> str:
        return b"".join(self._tail)[-max_bytes:].decode(errors="replace")


@dataclass
class ChildCommand:
    """argv that runs `module.main()` from this checkout in an isolated (-I) interpreter."""

    module: str
    args: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        import sys

        import trainer

        root = str(Path(trainer.__file__).resolve().parent.parent)
        bootstrap = (
            f"import sys; sys.path.insert(0, {root!r}); from {self.module} import main; main()"
        )
        return [
            sys.executable,
            "-I",
            "-u",
            "-c",
            bootstrap,
            *self.args,
        ]  # -u: a killed child keeps its log
