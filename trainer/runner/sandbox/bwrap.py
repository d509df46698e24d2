"""The bubblewrap command line of one child (binds, tmpfs, device nodes, identity, the
seccomp filter) and the probe that says whether this host can build the sandbox.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from trainer.runner.sandbox.env import visible_device
from trainer.runner.sandbox.seccomp import seccomp_filter
from trainer.runner.sandbox.spec import (
    EXCHANGE,
    JOB,
    SCRATCH,
    Mounts,
    SandboxSettings,
    SandboxUnavailable,
)


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
