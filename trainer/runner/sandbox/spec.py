"""What a sandboxed child is given: its paths, settings, limits, mounts, and the report
of what was enforced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
