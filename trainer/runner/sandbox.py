"""Run one untrusted child process, sealed (SPEC §4; issue 8).

The child runs under bubblewrap (`bwrap`) in new mount, PID, network, IPC and UTS
namespaces. What it sees:

- read-only binds of the Python runtime (/usr, the interpreter's prefix, the virtual
  environment) and of the `trainer` package (its entry code), at their host paths;
- /job: its job's inputs, read-only (a host folder the supervisor fills: train.py, and
  for the evaluation child the trusted copy of the checkpoint); /data: the training
  shards, read-only binds of the harness files (never links into the cache);
- /scratch: a private, size-limited tmpfs, its home and working directory; a private,
  size-limited /tmp and /dev/shm; a fresh /proc; a minimal /dev (plus, on CUDA, the
  assigned GPU's device nodes only); /etc holds only a passwd and group naming it;
- nothing else: no data dir, no keys, no database, no /run, no host sockets, no network.

Who it is: a dedicated unprivileged uid on the host (`SandboxSettings.uid`) when the
worker is root (bwrap builds the namespaces as root, then `setpriv` drops to that uid
with an empty bounding set); the worker's own uid inside a user namespace otherwise.
Either way every capability is gone, `no_new_privs` is set and a seccomp filter refuses
new namespaces, mounts, ptrace, keyrings, BPF and io_uring.

What it may spend: memory and processes through a cgroup where one is writable (plus
RLIMIT_AS on CPU, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE, no core dumps), CPU through
a cgroup quota, disk through the tmpfs sizes (which are memory, so the memory bound
covers them too). When bwrap's monitor dies, the sandbox's PID 1 dies and with it every
descendant; the tmpfs mounts vanish with the last reference.

What comes out: stdout/stderr (captured, capped), the metrics channel, and files the
trusted side copies out of /scratch with `copy_out` (opened without following links,
regular files only, size-capped).

`SandboxSettings(mode="none")` is the operator's explicit unsafe mode: the child runs
as a plain subprocess with the same file layout under a host folder, and every result
says so.
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
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

TAIL_BYTES = 16 << 10

SCRATCH = "/scratch"  # the child's home and working directory (tmpfs)
JOB = "/job"  # the job's inputs, filled by the supervisor, read-only to the child
DATA = "/data"  # the training shards, read-only
EXCHANGE = "/exchange"  # the evaluation buffers the supervisor shares with one child

BWRAP = "bubblewrap"
NONE = "none"


@dataclass(frozen=True)
class SandboxSettings:
    mode: str = BWRAP  # "bubblewrap", or "none": the operator's explicit unsafe mode
    bwrap: str = "bwrap"  # the bwrap executable (a name on PATH or a path)
    uid: int = 61000  # host uid (and gid) of every child when the worker is root
    scratch_mb: int = 4096  # size of /scratch; /tmp and /dev/shm get a quarter each

    @property
    def unsafe(self) -> bool:
        return self.mode == NONE


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be built here: what is missing and how to grant it."""


# --- seccomp --------------------------------------------------------------------

# (AUDIT_ARCH, syscalls refused with EPERM, clone, clone3, unshare) per machine
_ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        dict(
            clone=56,
            clone3=435,
            unshare=272,
            setns=308,
            mount=165,
            umount2=166,
            pivot_root=155,
            chroot=161,
            ptrace=101,
            process_vm_readv=310,
            process_vm_writev=311,
            keyctl=250,
            add_key=248,
            request_key=249,
            bpf=321,
            perf_event_open=298,
            userfaultfd=323,
            kexec_load=246,
            kexec_file_load=320,
            init_module=175,
            finit_module=313,
            delete_module=176,
            open_by_handle_at=304,
            name_to_handle_at=303,
            io_uring_setup=425,
            io_uring_enter=426,
            io_uring_register=427,
            fsopen=430,
            fsmount=432,
            move_mount=429,
            open_tree=428,
        ),
    ),  # fmt: skip
    "aarch64": (
        0xC00000B7,
        dict(
            clone=220,
            clone3=435,
            unshare=97,
            setns=268,
            mount=40,
            umount2=39,
            pivot_root=41,
            chroot=51,
            ptrace=117,
            process_vm_readv=270,
            process_vm_writev=271,
            keyctl=219,
            add_key=217,
            request_key=218,
            bpf=280,
            perf_event_open=241,
            userfaultfd=282,
            kexec_load=104,
            kexec_file_load=294,
            init_module=105,
            finit_module=273,
            delete_module=106,
            open_by_handle_at=265,
            name_to_handle_at=264,
            io_uring_setup=425,
            io_uring_enter=426,
            io_uring_register=427,
            fsopen=430,
            fsmount=432,
            move_mount=429,
            open_tree=428,
        ),
    ),  # fmt: skip
}
_CLONE_NEW_FLAGS = 0x7E020080  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME


@cache
def seccomp_filter() -> bytes | None:
    """A classic BPF program (struct sock_filter[]) for `bwrap --seccomp`: refuse new
    namespaces (clone with CLONE_NEW*, unshare, setns; clone3 reads ENOSYS so libc falls
    back to clone), mounts, ptrace and cross-process memory access, keyrings, BPF,
    perf, userfaultfd, io_uring, module and kexec calls. None on an unknown machine."""
    arch = _ARCHES.get(os.uname().machine)
    if arch is None:
        return None
    audit_arch, numbers = arch
    ld, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    refused = [n for name, n in numbers.items() if name not in ("clone", "clone3")]
    # layout: [0] ld arch, [1] jeq, [2] ld nr, [3] x32 check, refused..., clone3, clone,
    # allow, clone-check (ld arg0, jset, allow), ret eperm, ret enosys, ret kill
    prog: list[tuple[int, int, int, int]] = []
    n_refused = len(refused)
    base = 4  # index of the first refused-syscall test
    clone3_at = base + n_refused
    clone_at = clone3_at + 1
    allow_at = clone_at + 1
    check_at = allow_at + 1  # ld arg0; jset; ret allow
    eperm_at = check_at + 3
    enosys_at = eperm_at + 1
    kill_at = enosys_at + 1

    def jump(at: int, target: int) -> int:
        return target - at - 1

    prog.append((ld, 0, 0, 4))
    prog.append((jeq, 0, jump(1, kill_at), audit_arch))
    prog.append((ld, 0, 0, 0))
    prog.append((jge, jump(3, eperm_at), 0, 0x40000000))  # the x32 ABI: refused wholesale
    for i, number in enumerate(refused):
        at = base + i
        prog.append((jeq, jump(at, eperm_at), 0, number))
    prog.append((jeq, jump(clone3_at, enosys_at), 0, numbers["clone3"]))
    prog.append((jeq, jump(clone_at, check_at), 0, numbers["clone"]))
    prog.append((ret, 0, 0, allow))
    prog.append((ld, 0, 0, 16))  # clone's flags: args[0], low 32 bits
    prog.append((jset, jump(check_at + 1, eperm_at), 0, _CLONE_NEW_FLAGS))
    prog.append((ret, 0, 0, allow))
    prog.append((ret, 0, 0, eperm))
    prog.append((ret, 0, 0, enosys))
    prog.append((ret, 0, 0, kill))
    return b"".join(struct.pack("<HBBI", *insn) for insn in prog)


# --- cgroups ------------------------------------------------------------------


class Cgroup:
    """A child cgroup (v1 or v2) created under our own, for memory, process and CPU limits."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs  # controller -> cgroup directory ("memory", "pids", "cpu")

    @classmethod
    def create(
        cls, name: str, memory_mb: int | None, max_tasks: int, cpus: float | None = None
    ) -> tuple[Cgroup | None, str]:
        """(cgroup, detail); (None, why) when no cgroup could be made."""
        root = Path("/sys/fs/cgroup")
        try:
            own = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError as exc:
            return None, f"cannot read /proc/self/cgroup: {exc}"
        parents: dict[str, Path] = {}
        wanted = ("memory", "pids", "cpu")
        if (root / "cgroup.controllers").exists():  # unified v2 hierarchy
            path = next((line.split(":", 2)[2] for line in own if line.startswith("0::")), "/")
            for controller in wanted:
                parents[controller] = root / path.lstrip("/")
        else:
            for line in own:
                _, controllers, path = line.split(":", 2)
                for controller in controllers.split(","):
                    if controller in wanted and (root / controller).is_dir():
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
                if controller == "cpu":
                    if not cpus:
                        directory.rmdir()
                        continue
                    period = 100_000
                    quota = str(max(1000, int(cpus * period)))
                    v1 = directory / "cpu.cfs_quota_us"
                    if v1.exists():
                        (directory / "cpu.cfs_period_us").write_text(str(period))
                        v1.write_text(quota)
                    else:
                        (directory / "cpu.max").write_text(f"{quota} {period}")
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


# --- what the child may see -------------------------------------------------------


@dataclass
class Limits:
    memory_mb: int | None
    address_space: bool  # enforce memory_mb with RLIMIT_AS too (not on CUDA)
    max_processes: int
    max_file_size_mb: int
    max_open_files: int
    log_cap_bytes: int
    cpus: float | None = None  # CPU quota (cores); None: unbounded


@dataclass
class Mounts:
    """A child's view beyond the runtime: its job folder (read-only at /job), read-only
    files or folders at chosen paths (e.g. shards under /data), and at most one folder
    it may write that the supervisor also reads (the evaluation buffers, at /exchange)."""

    job_dir: Path
    inputs: list[tuple[Path, str]] = field(default_factory=list)  # (host path, inside path)
    exchange_dir: Path | None = None


@dataclass
class SandboxReport:
    sandbox: str  # "bubblewrap" or "none"
    network_isolated: bool
    pid_namespace: bool
    uid: int | None  # the child's uid on the host
    memory: str
    processes: str
    cpu: str
    disk: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def runtime_paths() -> list[str]:
    """Host folders that hold the interpreter and the packages a child imports."""
    import trainer

    paths = {"/usr"}
    for prefix in (sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix):
        paths.add(os.path.realpath(prefix))
        paths.add(os.path.abspath(prefix))
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    for entry in sys.path:
        if "-packages" in entry and os.path.isdir(entry):
            paths.add(os.path.realpath(entry))
    paths.add(str(Path(trainer.__file__).resolve().parent))  # the entry code
    # keep the outermost folders only: a bind inside another would be redundant
    ordered = sorted(p for p in paths if os.path.isdir(p))
    kept: list[str] = []
    for path in ordered:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def gpu_device_nodes(device: str) -> list[str]:
    """/dev nodes a child on `device` needs: the control and UVM nodes and the one GPU."""
    if not device.startswith("cuda"):
        return []
    minor = gpu_minor(visible_device(device))
    nodes = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", f"/dev/nvidia{minor}"]
    return [n for n in nodes if os.path.exists(n)]


def gpu_minor(visible: str) -> int:
    """The /dev/nvidiaN minor of a CUDA_VISIBLE_DEVICES entry (index in PCI order or a
    GPU UUID), from the driver's own table; the index itself when the table is missing."""
    gpus = Path("/proc/driver/nvidia/gpus")
    table: list[tuple[str, int, str]] = []  # (bus id, minor, uuid)
    with contextlib.suppress(OSError):
        for bus in sorted(os.listdir(gpus)):
            info = (gpus / bus / "information").read_text()
            fields = dict(
                (k.strip(), v.strip())
                for k, _, v in (line.partition(":") for line in info.splitlines())
            )
            table.append((bus, int(fields.get("Device Minor", "-1")), fields.get("GPU UUID", "")))
    if visible.isdigit():
        index = int(visible)
        if table and index < len(table) and table[index][1] >= 0:
            return table[index][1]
        return index
    for _, minor, uuid in table:
        if uuid and uuid == visible:
            return minor
    raise SandboxUnavailable(f"cannot find the device node of GPU {visible!r}")


def _data_fd(text: str) -> int:
    fd = os.memfd_create("loopy-sandbox-data", os.MFD_CLOEXEC)
    os.write(fd, text.encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _inherit(fd: int) -> int:
    os.set_inheritable(fd, True)
    return fd


class BwrapCommand:
    """The bwrap argv for one child, and the file descriptors it reads its data from."""

    def __init__(
        self, settings: SandboxSettings, mounts: Mounts, device: str, child_uid: int
    ) -> None:
        self.fds: list[int] = []
        root = os.geteuid() == 0
        args = [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "loopy",
            "--die-with-parent",  # the monitor dies with us; the sandbox with the monitor
            "--new-session",  # no TIOCSTI into a terminal
            "--clearenv",
        ]
        if root:
            # bwrap builds the namespaces as root (so it can read any runtime folder);
            # only setpriv keeps the caps it needs to drop to the sandbox uid for good
            args += ["--cap-drop", "ALL"]
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            args += ["--cap-add", "CAP_SETPCAP"]
        else:
            args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        # the fresh file systems first, so that a runtime folder under /tmp stays visible
        args += ["--proc", "/proc", "--dev", "/dev"]
        size = settings.scratch_mb << 20
        small = max(64 << 20, size // 4)
        for path, nbytes in ((SCRATCH, size), ("/tmp", small), ("/dev/shm", small)):
            args += ["--perms", "1777", "--size", str(nbytes), "--tmpfs", path]
        runtime = runtime_paths()
        targets = [*runtime, *(inside for _, inside in mounts.inputs), "/etc/passwd"]
        targets += ["/sys/devices/system/cpu"]
        parents = {str(a) for p in targets for a in Path(p).parents if str(a) != "/"}
        for parent in sorted(parents):  # bwrap would make them 0700: unreadable to the uid
            args += ["--perms", "0755", "--dir", parent]
        for path in runtime:
            args += ["--ro-bind", path, path]
        for link in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
            target = Path("/") / link
            if target.is_symlink():
                args += ["--symlink", os.readlink(target), f"/{link}"]
            elif target.is_dir():
                args += ["--ro-bind", str(target), f"/{link}"]
        args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
        passwd = f"loopy:x:{child_uid}:{child_uid}:loopy:{SCRATCH}:/usr/sbin/nologin\n"
        group = f"loopy:x:{child_uid}:\n"
        for path, text in (("/etc/passwd", passwd), ("/etc/group", group)):
            fd = self._keep(_data_fd(text))
            args += ["--perms", "0444", "--ro-bind-data", str(fd), path]
        # torch's cpuinfo reads the CPU topology; nothing else of /sys is shown
        args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
        for node in gpu_device_nodes(device):
            args += ["--dev-bind", node, node]
        if device.startswith("cuda"):  # the driver reads PCI and module details
            for path in ("/sys/bus/pci", "/sys/module/nvidia", "/sys/devices"):
                args += ["--ro-bind-try", path, path]
        args += ["--ro-bind", str(mounts.job_dir), JOB]
        for host, inside in mounts.inputs:
            args += ["--ro-bind", str(host), inside]
        if mounts.exchange_dir is not None:
            args += ["--bind", str(mounts.exchange_dir), EXCHANGE]
        args += ["--remount-ro", "/", "--chdir", SCRATCH]
        program = seccomp_filter()
        if program is not None:
            args += ["--seccomp", str(self._keep(_data_fd_bytes(program)))]
        self.args = args
        self.prefix: list[str] = []
        if root:
            setpriv = shutil.which("setpriv", path="/usr/bin:/bin") or "/usr/bin/setpriv"
            self.prefix = [
                setpriv,
                f"--reuid={child_uid}",
                f"--regid={child_uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]

    def _keep(self, fd: int) -> int:
        self.fds.append(_inherit(fd))
        return fd

    def argv(self, bwrap: str, env: dict[str, str], command: list[str]) -> list[str]:
        setenv = [x for k, v in env.items() for x in ("--setenv", k, v)]
        return [bwrap, *self.args, *setenv, "--", *self.prefix, *command]

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def _data_fd_bytes(data: bytes) -> int:
    fd = os.memfd_create("loopy-seccomp", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def child_uid(settings: SandboxSettings) -> int:
    """The host uid of a sandboxed child: the dedicated one when we can switch to it."""
    return settings.uid if os.geteuid() == 0 else os.geteuid()


def find_bwrap(settings: SandboxSettings) -> str | None:
    if os.sep in settings.bwrap:
        return settings.bwrap if os.access(settings.bwrap, os.X_OK) else None
    return shutil.which(settings.bwrap)


HOW_TO_GRANT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; scripts/install.sh does "
    "it as root) and let the worker create namespaces: as root it needs CAP_SYS_ADMIN, "
    "CAP_SETUID, CAP_SETGID and CAP_SETPCAP; as another user, unprivileged user namespaces "
    "(sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0) and, in a "
    "container, a seccomp and AppArmor profile that allow unshare and mount and an "
    "unmasked /proc (see deploy/README.md). Or set LOOPY_UNSAFE_NO_SANDBOX=1 to run agent "
    "code without a sandbox (every run then says sandbox: none)"
)


@cache
def _probe(bwrap: str | None, uid: int, euid: int, setting: str) -> str | None:
    if bwrap is None:
        return f"bwrap not found (setting: {setting!r})"
    with contextlib.ExitStack() as stack:
        job = Path(stack.enter_context(_tempdir()))
        command = BwrapCommand(SandboxSettings(bwrap=bwrap, uid=uid), Mounts(job), "cpu", uid)
        stack.callback(command.close)
        check = "import os,sys; sys.exit(0 if os.getuid() == %d and os.getuid() != 0 else 3)"
        argv = command.argv(bwrap, {}, [sys.executable, "-I", "-S", "-c", check % uid])
        try:
            done = subprocess.run(
                argv, capture_output=True, timeout=30, pass_fds=tuple(command.fds)
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{bwrap} could not run: {exc}"
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip()[-500:]
            return f"{bwrap} could not build the sandbox (exit {done.returncode}): {said}"
    return None


@contextlib.contextmanager
def _tempdir() -> Any:
    import tempfile

    path = tempfile.mkdtemp(prefix="loopy-probe-")
    try:
        os.chmod(path, 0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sandbox_problem(settings: SandboxSettings) -> str | None:
    """None when a child can be sealed here, else what is missing (cached per process)."""
    if settings.unsafe:
        return None
    return _probe(find_bwrap(settings), child_uid(settings), os.geteuid(), settings.bwrap)


def require_sandbox(settings: SandboxSettings) -> None:
    problem = sandbox_problem(settings)
    if problem is not None:
        raise SandboxUnavailable(f"{problem}. To grant it: {HOW_TO_GRANT}.")


# --- the environment -------------------------------------------------------------


# glibc malloc: keep freed memory up to 32 MB blocks in the heap instead of returning it to
# the kernel. Eager torch on CPU allocates a fresh activation tensor per op; by default every
# one over ~128 KB is a new mmap whose pages fault in on first touch, which made element-wise
# ops 3-4x slower than the arithmetic (measured in bench/train_throughput.py).
ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # the largest value glibc accepts
    "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
}


def scrubbed_env(home: str, device: str, threads: int, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": f"{home}/tmp",
        "LANG": "C.UTF-8",
        "USER": "loopy",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "CUDA_VISIBLE_DEVICES": visible_device(device),
        **ALLOCATOR_ENV,
    }
    if device.startswith("cuda"):
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # index N is the Nth GPU on the bus
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


# --- the child ---------------------------------------------------------------------


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


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    return children


def children_of(pid: int) -> list[int]:
    return _children().get(pid, [])


def descendants(pid: int) -> list[int]:
    """Live descendants of `pid`, from a scan of /proc."""
    children = _children()
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


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
