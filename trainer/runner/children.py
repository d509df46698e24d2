"""Starting the sandboxed children of a run: what they are started with (ChildSettings),
the training child, the two evaluation children, their priority.

Every child runs one trainer module (`trainer.runner.child_*`) inside the sandbox with
its job folder read-only under /job and one channel to the supervisor as its only
inherited descriptor.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trainer.runner.channel import Channel
from trainer.runner.config import RunConfig
from trainer.runner.devices import is_cuda, validate_device
from trainer.runner.sandbox import (
    BWRAP,
    NONE,
    SCRATCH,
    ChildCommand,
    Limits,
    Mounts,
    Sandboxed,
    SandboxSettings,
    scrubbed_env,
)

LogCallback = Callable[[str], None]


def physical_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20


def default_threads() -> int:
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class ChildSettings:
    """Everything a child is started with before its run is known: a pre-warmed child
    serves a run only when these are equal."""

    device: str
    threads: int
    limits: Limits
    sandbox: SandboxSettings
    extra_env: tuple[tuple[str, str], ...]
    harness_dir: str
    prewarm_eval: bool

    @classmethod
    def of(cls, config: RunConfig) -> ChildSettings:
        validate_device(config.device)
        if config.sandbox not in (BWRAP, NONE):
            raise ValueError(f"sandbox must be {BWRAP!r} or {NONE!r}, not {config.sandbox!r}")
        cuda = is_cuda(config.device)
        memory = config.memory_limit_mb or int(0.8 * physical_memory_mb())
        threads = config.threads or default_threads()
        return cls(
            device=config.device,
            threads=threads,
            limits=Limits(
                memory_mb=memory,
                address_space=not cuda,  # CUDA reserves huge virtual ranges
                max_processes=config.max_processes,
                max_file_size_mb=config.max_file_size_mb,
                max_open_files=config.max_open_files,
                log_cap_bytes=config.log_cap_bytes,
                cpus=float(threads),
            ),
            sandbox=SandboxSettings(
                mode=config.sandbox,
                bwrap=config.bwrap,
                uid=config.sandbox_uid,
                scratch_mb=config.scratch_mb,
            ),
            extra_env=tuple(sorted(config.extra_env.items())),
            harness_dir=str(Path(config.harness_dir).resolve()),
            prewarm_eval=config.prewarm_eval,
        )

    @property
    def cuda(self) -> bool:
        return is_cuda(self.device)


def spawn_child(
    settings: ChildSettings,
    module: str,
    args: list[str],
    mounts: Mounts,
    log_path: Path,
    on_log: LogCallback | None,
    name: str,
) -> tuple[Sandboxed, Channel]:
    """Start a sealed child running `module` with `args` and read-only `mounts`; (child,
    our end of its channel). Its scratch (home, cwd) is a private tmpfs of
    settings.sandbox.scratch_mb; the channel is the only descriptor it inherits."""
    channel, child_end = Channel.pair()
    try:
        home = SCRATCH if not settings.sandbox.unsafe else None
        child = Sandboxed(
            ChildCommand(module, [str(child_end.fileno()), *args]),
            limits=settings.limits,
            log_path=log_path,
            mounts=mounts,
            settings=settings.sandbox,
            device=settings.device,
            pass_fds=(child_end.fileno(),),
            on_log=on_log,
            name=name,
            env_for=lambda view: scrubbed_env(
                home or view(SCRATCH), settings.device, settings.threads, dict(settings.extra_env)
            ),
        )
    except BaseException:
        channel.close()
        raise
    finally:
        child_end.close()
    return child, channel


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def spawn_train_child(
    settings: ChildSettings,
    job_dir: Path,
    log_path: Path,
    on_log: LogCallback | None,
) -> tuple[Sandboxed, Channel]:
    """A training child that imports torch, then waits for its job on the channel. It sees
    only its job folder (train.py, written when the job is known) read-only under /job: no
    harness file at all, since its batches come from the supervisor over the channel (a
    child that could read the shards could train on fresh data past its budget)."""
    device = "cuda" if settings.cuda else "cpu"
    return spawn_child(
        settings,
        "trainer.runner.child_train",
        [device],
        Mounts(_fresh_dir(job_dir)),
        log_path,
        on_log,
        "loopy-train",
    )


EXCHANGE_PREFIX = "loopy-exchange-"


def _sweep_exchange_dirs(shm: Path) -> None:
    """Remove the evaluation buffer folders of supervisors that are gone (killed before
    their clean-up; supervisors before memfd buffers made one per evaluation child)."""
    for path in shm.glob(f"{EXCHANGE_PREFIX}*-*"):
        pid = path.name[len(EXCHANGE_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


def spawn_eval_child(
    settings: ChildSettings, job_dir: Path, log_path: Path, on_log: LogCallback | None
) -> tuple[Sandboxed, Channel]:
    """An evaluation child: it sees its job folder (train.py and the trusted copy of the
    checkpoint, written when training ended) read-only under /job; the buffers it
    shares with the supervisor come as anonymous memory over its channel
    (eval_protocol), never a named file; it never sees the validation targets."""
    if Path("/dev/shm").is_dir():
        _sweep_exchange_dirs(Path("/dev/shm"))
    mounts = Mounts(_fresh_dir(job_dir))
    try:
        return spawn_child(
            settings, "trainer.runner.child_eval", [], mounts, log_path, on_log, "loopy-eval"
        )
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise


def set_group_priority(child: Sandboxed, niceness: int) -> None:
    """Renice every thread of the child's sandbox (the supervisor is the only one allowed
    to lower it again). Warm children import torch at the lowest priority so they do not
    slow the evaluation of the run that is finishing on the same cores."""
    for tid in child.threads():
        with contextlib.suppress(OSError):  # gone, or not permitted: only speed suffers
            os.setpriority(os.PRIO_PROCESS, tid, niceness)


WARM_NICENESS = 19
