"""The cgroup of one child (v1 or v2), made under our own where one is writable: memory,
process and CPU limits, and whether the kernel killed it for memory.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path


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
