"""One running sandboxed child (`Sandboxed`): started under bwrap (or unsealed in the
operator's unsafe mode), its log captured, its scratch copied out safely, killed with
its whole tree.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from trainer.runner.proctree import children_of, descendants
from trainer.runner.sandbox.bwrap import BwrapCommand, child_uid, find_bwrap, require_sandbox
from trainer.runner.sandbox.cgroups import Cgroup
from trainer.runner.sandbox.seccomp import seccomp_filter
from trainer.runner.sandbox.spec import (
    BWRAP,
    EXCHANGE,
    JOB,
    NONE,
    SCRATCH,
    Limits,
    Mounts,
    SandboxReport,
    SandboxSettings,
)

TAIL_BYTES = 16 << 10


def _send_scratch_bootstrap(fd: int) -> str:
    """Code the child runs before anything else (trusted: no agent code is loaded yet):
    hand the supervisor a handle on its scratch tmpfs, so that the trusted side can copy
    the checkpoint out of it even after the sandbox is gone."""
    return (
        "import os as _o, socket as _s\n"
        f"_c = _s.socket(fileno={fd})\n"
        f"_d = _o.open({SCRATCH!r}, _o.O_PATH | _o.O_DIRECTORY)\n"
        "_s.send_fds(_c, [b'scratch'], [_d])\n"
        "_o.close(_d); _c.close(); del _o, _s, _c, _d\n"
        f"import os as _o; _o.makedirs({SCRATCH + '/tmp'!r}, exist_ok=True); del _o\n"
    )


class CopyRefused(Exception):
    """What the child left is not a regular file of an acceptable size in its scratch."""


class Sandboxed:
    """One running child; `wait`, `kill`, `finish`, then read `returncode` and the log."""

    def __init__(
        self,
        command: ChildCommand,
        env_for: Callable[[Callable[[str], str]], dict[str, str]],
        limits: Limits,
        log_path: Path,
        mounts: Mounts,
        settings: SandboxSettings,
        device: str = "cpu",
        pass_fds: tuple[int, ...] = (),
        on_log: Callable[[str], None] | None = None,
        name: str = "loopy",
    ) -> None:
        self.settings = settings
        self.mounts = mounts
        self.uid = child_uid(settings) if not settings.unsafe else os.geteuid()
        self.host_root: Path | None = None  # unsafe mode: the child's view, on the host
        self._scratch_fd: int | None = None
        self._control: socket.socket | None = None
        bwrap: BwrapCommand | None = None
        extra_fds: list[int] = []
        theirs: socket.socket | None = None  # the child's end of the scratch-handle socket
        preamble = ""
        if settings.unsafe:
            self.host_root = self._unsafe_root(mounts)
            cwd = str(self.host_root / SCRATCH.lstrip("/"))
            self._scratch_fd = os.open(cwd, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            argv = command.argv(self.path)
            env = env_for(self.path)
        else:
            require_sandbox(settings)
            bwrap_path = find_bwrap(settings)
            assert bwrap_path is not None
            bwrap = BwrapCommand(settings, mounts, device, self.uid)
            self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            extra_fds = [*bwrap.fds, theirs.fileno()]
            preamble = _send_scratch_bootstrap(theirs.fileno())
            argv = bwrap.argv(bwrap_path, env_for(self.path), command.argv(self.path, preamble))
            cwd = "/"
            env = {}
            os.chmod(mounts.job_dir, 0o755)  # the child reads it; only we write it
            if mounts.exchange_dir is not None:
                os.chmod(mounts.exchange_dir, 0o700)
                self.grant(mounts.exchange_dir)
        cpu = f"cgroup quota {limits.cpus:g} CPUs" if limits.cpus else "unbounded"
        self.cgroup, cgroup_detail = Cgroup.create(
            f"{name}-{os.getpid()}-{time.monotonic_ns()}",
            limits.memory_mb,
            limits.max_processes,
            limits.cpus,
        )
        memory = []
        if limits.address_space and limits.memory_mb:
            memory.append(f"RLIMIT_AS {limits.memory_mb} MB")
        if self.cgroup and "memory" in self.cgroup.dirs and limits.memory_mb:
            memory.append(f"cgroup {limits.memory_mb} MB")
        processes = f"RLIMIT_NPROC {limits.max_processes}"
        if self.cgroup and "pids" in self.cgroup.dirs:
            processes += f", cgroup pids.max {limits.max_processes}"
        if not (self.cgroup and "cpu" in self.cgroup.dirs):
            cpu = "unbounded (no cpu cgroup); the run's time limits still apply"
        sealed = not settings.unsafe
        self.report = SandboxReport(
            sandbox=BWRAP if sealed else NONE,
            network_isolated=sealed,
            pid_namespace=sealed,
            uid=self.uid,
            memory=", ".join(memory) or f"none enforced ({cgroup_detail})",
            processes=processes,
            cpu=cpu,
            disk=(
                f"tmpfs: {settings.scratch_mb} MB {SCRATCH}, /tmp and /dev/shm each "
                f"{max(64, settings.scratch_mb // 4)} MB; RLIMIT_FSIZE {limits.max_file_size_mb} MB"
                if sealed
                else f"RLIMIT_FSIZE {limits.max_file_size_mb} MB per file, no total"
            ),
            detail=(
                f"bubblewrap: mount, PID, network, IPC, UTS namespaces; uid {self.uid}; "
                f"no capabilities; no_new_privs; seccomp "
                f"{'on' if seccomp_filter() else 'off (unknown machine)'}; {cgroup_detail}"
                if sealed
                else f"UNSAFE: no sandbox (LOOPY_UNSAFE_NO_SANDBOX); {cgroup_detail}"
            ),
        )
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
        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(*pass_fds, *extra_fds),
                start_new_session=True,
                preexec_fn=contain,
            )
        except BaseException:
            self._close_handles()
            if self.cgroup:
                self.cgroup.destroy()
            raise
        finally:
            if bwrap is not None:
                bwrap.close()
            if theirs is not None:
                theirs.close()
        self._reader = threading.Thread(target=self._pump_log, daemon=True)
        self._reader.start()

    # --- the child's view ---

    def path(self, inside: str) -> str:
        """The path the child uses for `inside` (a sandbox path such as /job/train.py)."""
        if self.host_root is None:
            return inside
        return str(self.host_root / inside.lstrip("/"))

    @staticmethod
    def _unsafe_root(mounts: Mounts) -> Path:
        """Unsafe mode: the same layout as inside the sandbox, as links in a host folder."""
        root = mounts.job_dir.parent / f"{mounts.job_dir.name}.root"
        shutil.rmtree(root, ignore_errors=True)
        (root / SCRATCH.lstrip("/") / "tmp").mkdir(parents=True)
        (root / JOB.lstrip("/")).symlink_to(mounts.job_dir.resolve())
        for host, inside in mounts.inputs:
            link = root / inside.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path(host).resolve())
        if mounts.exchange_dir is not None:
            (root / EXCHANGE.lstrip("/")).symlink_to(mounts.exchange_dir.resolve())
        return root

    def grant(self, path: Path) -> None:
        """Let the child write `path` (a file or folder we made for it alone)."""
        if os.geteuid() == 0 and self.uid != 0:
            os.chown(path, self.uid, self.uid)

    # --- copying out ---

    def scratch_handle(self) -> int | None:
        """An O_PATH handle on the child's scratch (None if the child never sent one)."""
        if self._scratch_fd is None and self._control is not None:
            self._control.setblocking(False)
            with contextlib.suppress(OSError):
                _, fds, _, _ = socket.recv_fds(self._control, 64, 1)
                for extra in fds[1:]:
                    os.close(extra)
                if fds:
                    fd = fds[0]
                    st = os.fstat(fd)
                    if stat.S_ISDIR(st.st_mode):
                        self._scratch_fd = fd
                    else:
                        os.close(fd)
            self._control.close()
            self._control = None
        return self._scratch_fd

    def copy_out(self, name: str, destination: Path, max_bytes: int) -> int:
        """Copy `name` from the child's scratch to `destination` (trusted side): opened
        without following links, a regular file, at most `max_bytes`. Returns its size;
        raises CopyRefused saying why it was not copied."""
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(name)
        handle = self.scratch_handle()
        if handle is None:
            raise CopyRefused(f"{name}: the child's scratch is not reachable")
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=handle)
        except FileNotFoundError:
            raise CopyRefused(f"{name} does not exist") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CopyRefused(f"{name} is a symbolic link: refused") from None
            raise CopyRefused(f"{name} cannot be opened: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CopyRefused(f"{name} is not a regular file: refused")
            if st.st_size > max_bytes:
                raise CopyRefused(f"{name} is {st.st_size} bytes, over the {max_bytes} cap")
            copied = 0
            out = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            try:
                while chunk := os.read(fd, 1 << 20):
                    copied += len(chunk)
                    if copied > max_bytes:
                        raise CopyRefused(f"{name} grew past the {max_bytes} byte cap")
                    os.write(out, chunk)
            finally:
                os.close(out)
            return copied
        except CopyRefused:
            with contextlib.suppress(OSError):
                os.unlink(destination)
            raise
        finally:
            os.close(fd)

    # --- the log ---

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

    # --- the process ---

    @property
    def pid(self) -> int:
        return self.proc.pid

    def processes(self) -> list[int]:
        """Every live process of this child: bwrap's and the sandbox's (new sessions)."""
        if self.cgroup and self.cgroup.pids():
            return self.cgroup.pids()
        return [self.proc.pid, *descendants(self.proc.pid)]

    def threads(self) -> list[int]:
        found = []
        for pid in self.processes():
            with contextlib.suppress(OSError):
                found += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        return found

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Kill the sandbox's PID 1 (the kernel then kills every process in its PID
        namespace, whatever they did to themselves), bwrap's monitor, its process group and
        everything in the cgroup."""
        if not self.settings.unsafe and self.proc.poll() is None:
            for pid in children_of(self.proc.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.cgroup:
            for pid in self.cgroup.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def finish(self) -> int:
        """After the child ended (or to end it): kill stragglers, collect the log, clean up.
        The scratch handle stays until `release` (the checkpoint may still be copied)."""
        self.kill()
        returncode = self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.cgroup:
            self.cgroup.destroy()
        self.scratch_handle()  # receive it now, or never
        return returncode

    def release(self) -> None:
        """Drop the last handle on the scratch (its tmpfs is freed) and the host folders."""
        self._close_handles()
        if self.host_root is not None:
            shutil.rmtree(self.host_root, ignore_errors=True)
        shutil.rmtree(self.mounts.job_dir, ignore_errors=True)
        if self.mounts.exchange_dir is not None:
            shutil.rmtree(self.mounts.exchange_dir, ignore_errors=True)

    def _close_handles(self) -> None:
        if self._scratch_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._scratch_fd)
            self._scratch_fd = None
        if self._control is not None:
            self._control.close()
            self._control = None

    def oom_killed(self) -> bool:
        return bool(self.cgroup and self.cgroup.oom_killed())

    def tail(self, max_bytes: int = 4000) -> str:
        return b"".join(self._tail)[-max_bytes:].decode(errors="replace")


@dataclass
class ChildCommand:
    """argv that runs `module.main()` from this checkout in an isolated (-I) interpreter."""

    module: str
    args: list[str] = field(default_factory=list)

    def argv(self, view: Callable[[str], str] = lambda p: p, preamble: str = "") -> list[str]:
        import trainer

        root = str(Path(trainer.__file__).resolve().parent.parent)
        bootstrap = (
            preamble
            + f"import sys; sys.path.insert(0, {root!r}); from {self.module} import main; main()"
        )
        return [
            sys.executable,
            "-I",
            "-u",
            "-c",
            bootstrap,
            *(view(a) if a.startswith("/") else a for a in self.args),
        ]  # -u: a killed child keeps its log
