"""Deadlines of the evaluation phase, derived from the honest cost of the work (load the
checkpoint, score every row), and the clock that enforces them (wall and, on CPU, the
children's CPU time): past them, TIMEOUT.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from trainer.runner.config import RunFailure
from trainer.runner.failures import EvaluationFailed


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch ops on this thread with `n` threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --- deadlines ----------------------------------------------------------------------

# Fixed allowances (seconds) for what does not scale with the model: loading = running
# train.py's import-time code, build_model, torch.load, and on CUDA creating the
# context; the first forward may compile. Past them, extra work is suspect.
LOAD_FIXED_S = {"cpu": 10.0, "cuda": 120.0}
FIRST_CALL_S = {"cpu": 5.0, "cuda": 120.0}
CHECKPOINT_BYTES_PER_S = 100e6  # reading and copying the weights, slow disk
# honest forward efficiency can be a fifth of matmul speed (the CPU baseline: a third),
# and CPU time per FLOP grows on a crowded machine (caches shared): 20x leaves room
COST_MARGIN = 20.0
# the estimate trusts the checkpoint's size: a checkpoint padded with useless tensors
# cannot buy more than the training budget (or a minute) of extra evaluation time
MIN_SCORING_CAP_S = 60.0
CUDA_NOMINAL_FLOPS = 20e12  # a deliberately low rate for any data-centre GPU (fp32-ish)
# on CPU the bound is the children's CPU time; the wall clock only stops a child that
# neither works nor answers, generously, since other load on the machine slows it
CPU_WALL_SLACK = 10.0


def cpu_matmul_flops(threads: int) -> float:
    """Float32 matmul rate of this machine with `threads` threads, now (median of a few,
    milliseconds): measured at every evaluation, so that a machine that is busier than
    usual gets a proportionally longer deadline."""
    n = 384
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    times = []
    with torch_threads(threads):
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(4):
                torch.mm(a, b, out=out)
            times.append(time.perf_counter() - t0)
    return 4 * 2 * n**3 / sorted(times)[len(times) // 2]


@dataclass(frozen=True)
class Allowance:
    """Deadlines (seconds, the supervisor's clock) for loading and for scoring."""

    load_s: float
    scoring_s: float
    honest_scoring_s: float  # estimated: 2 * parameters * tokens at the device's rate
    cap_s: float  # the most the estimate may add: max(training budget, a minute)
    parameters: int
    tokens: int
    device_flops: float
    threads: int
    cpu_bound: bool  # CPU: the bound is CPU seconds (allowance x threads); wall x slack

    def limits(self, phase: str) -> tuple[float, float]:
        """(wall seconds, CPU seconds) for "load" or "scoring"."""
        allowed = self.load_s if phase == "load" else self.scoring_s
        if not self.cpu_bound:
            return allowed, math.inf
        return allowed * CPU_WALL_SLACK, allowed * self.threads

    @classmethod
    def derive(
        cls,
        device: str,
        threads: int,
        parameters: int,
        checkpoint_bytes: int,
        tokens: int,
        budget_s: float,
    ) -> Allowance:
        kind = "cuda" if device.startswith("cuda") else "cpu"
        rate = CUDA_NOMINAL_FLOPS if kind == "cuda" else cpu_matmul_flops(threads)
        honest = 2.0 * parameters * tokens / rate
        copy_s = checkpoint_bytes / CHECKPOINT_BYTES_PER_S
        cap = max(budget_s, MIN_SCORING_CAP_S)
        return cls(
            load_s=LOAD_FIXED_S[kind] + min(copy_s, cap),
            scoring_s=FIRST_CALL_S[kind] + min(COST_MARGIN * honest, cap),
            honest_scoring_s=honest,
            cap_s=cap,
            parameters=parameters,
            tokens=tokens,
            device_flops=rate,
            threads=threads,
            cpu_bound=kind == "cpu",
        )


def checkpoint_parameters(path: Path) -> int:
    """Elements in the checkpoint's tensors (read lazily); if we cannot read it, a bound
    from its size (the child will fail to load it anyway)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return sum(int(t.numel()) for t in state.values() if isinstance(t, torch.Tensor))
    except Exception:  # hostile bytes: whatever went wrong, the size still bounds the work
        return path.stat().st_size // 2 if path.exists() else 0


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU seconds (user + system, every thread) used so far by the processes under
    `roots`; reaped descendants count through their parents' cutime/cstime."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:  # gone meanwhile
            continue
        fields = data[data.rfind(b")") + 2 :].split()  # the name may hold spaces
        pid = int(name)
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total, stack, seen = 0, list(roots), set()
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            total += ticks.get(pid, 0)
            stack.extend(children.get(pid, ()))
    return total / os.sysconf("SC_CLK_TCK")


class Clock:
    """The evaluation's current deadline, one phase at a time: wall time on the
    supervisor's clock, and on CPU also the children's CPU time (`cpu_meter`), which a
    busy machine does not inflate: extra work is extra CPU seconds however slow the
    wall clock runs. `poll()` (from a guard thread) measures; `expired()` tells."""

    CPU_POLL_S = 0.5  # reading /proc for the children's CPU time costs a few ms

    def __init__(self, cpu_meter: Callable[[], float] | None = None) -> None:
        self.phase = "setup"
        self.created = self.started = time.monotonic()
        self.allowed = math.inf
        self.spent: dict[str, float] = {}
        self.cpu_meter = cpu_meter
        self.cpu_allowed = math.inf
        self.cpu_start = self.cpu_used = 0.0
        self.over_cpu = False
        self.last_poll = 0.0
        self.lock = threading.Lock()

    def start(self, phase: str, allowed: float, cpu_allowed: float = math.inf) -> None:
        cpu_now = self.cpu_meter() if self.cpu_meter else 0.0
        with self.lock:
            now = time.monotonic()
            self.spent[self.phase] = now - self.started
            if self.cpu_meter and self.phase in ("load", "scoring"):  # the children's work
                self.spent[f"{self.phase}_cpu"] = cpu_now - self.cpu_start
            self.phase, self.started, self.allowed = phase, now, allowed
            self.cpu_allowed = cpu_allowed if self.cpu_meter else math.inf
            self.cpu_start, self.cpu_used, self.over_cpu = cpu_now, 0.0, False

    def stop(self) -> None:
        if self.phase != "done":
            self.start("done", math.inf)

    def poll(self) -> bool:
        """Measure the children's CPU time (every CPU_POLL_S at most); expired()."""
        now = time.monotonic()
        if self.cpu_meter is not None and now - self.last_poll >= self.CPU_POLL_S:
            self.last_poll = now
            with self.lock:
                phase, cpu_start, cpu_allowed = self.phase, self.cpu_start, self.cpu_allowed
            if math.isfinite(cpu_allowed):
                used = self.cpu_meter() - cpu_start
                with self.lock:
                    if self.phase == phase:  # not a new phase meanwhile
                        self.cpu_used = used
                        self.over_cpu = self.over_cpu or used > cpu_allowed
        return self.expired()

    def remaining(self) -> float:
        return self.started + self.allowed - time.monotonic()

    def expired(self) -> bool:
        return self.over_cpu or self.remaining() <= 0

    def timeout(self, what: str) -> EvaluationFailed:
        elapsed = time.monotonic() - self.started
        evidence = {
            "phase": self.phase,
            "elapsed_seconds": elapsed,
            "allowed_seconds": self.allowed,
            "cpu_seconds": self.cpu_used,
            "allowed_cpu_seconds": self.cpu_allowed,
        }
        if self.over_cpu:
            spent = f"used {self.cpu_used:.1f} CPU seconds, more than its allowance of "
            spent += f"{self.cpu_allowed:.1f}"
        else:
            spent = f"took longer than its allowance of {self.allowed:.1f} s"
        return EvaluationFailed(
            RunFailure.TIMEOUT,
            f"evaluation {self.phase} {spent} ({what}): the honest cost of this phase is far "
            f"less; extra work in build_model or in the forward pass is not allowed",
            {"deadline": evidence},
        )
