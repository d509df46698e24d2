"""Trusted evaluation, supervisor side (SPEC §4).

Two evaluation children load the checkpoint; they never see targets and cannot reach
each other (separate processes, sandboxes and work dirs; each has its own anonymous
shared memory, see eval_protocol). Which one is the primary is drawn in secret.

- The **primary** scores every validation row exactly once, in a secret random order and
  batch composition (every batch has the same shape; the last one is padded with rows
  whose logits are ignored). This side holds the targets and the per-token byte lengths
  and computes

      val_bpb = sum of cross-entropy (nats) / (ln 2 * sum of target UTF-8 bytes)

  over every pinned validation token, special tokens excluded from both sums.
- The **auditor** scores a secret random subset of the rows (at least `audit_fraction`,
  rounded up to whole batches) in another random order and composition. Half of them
  have their tail after a random cut replaced by real validation text from another row,
  starting at a document start (BOS), so a splice reads as a document boundary.

The per-position cross-entropy of the true next token (what val_bpb is made of) must
agree between the two on every audited position up to the cut, within a tolerance
measured per device class (`TOLERANCES`). A model whose prediction depends on a later
token disagrees at the cut; one that depends on other rows, on earlier batches or on
what it has seen disagrees wherever its history or batch-mates differ, which is almost
everywhere. Because neither child can tell which rows are audited or where the cuts
are, the primary cannot behave only when watched. Leaks smaller than the tolerance are
caught in aggregate: the auditor's loss minus the primary's loss at the positions just
before the cuts must not be positive beyond the noise of all other compared positions.

A model can also do honest-looking extra work (training in `build_model` or in the first
forward): both children would agree. That is bounded by deadlines derived from the
honest cost of the work (`Allowance`): past them, TIMEOUT.

The cross-entropy runs in float32 over chunks of tokens in reused buffers (no allocation
per batch), summed in float64, on a private copy of each batch's logits (a child writing
into its shared memory while we read could otherwise make our reductions inconsistent).
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.runner.channel import Channel, ChannelError
from trainer.runner.config import RunFailure
from trainer.runner.eval_protocol import (
    SLOTS,
    Failed,
    ProtocolError,
    Scored,
    SharedBuffers,
    decode,
)

REDUCE_CHUNK_TOKENS = 256  # positions per cross-entropy chunk: [256, vocab] stays in cache
AUDIT_FRACTION = 0.10  # of the validation rows, at least, re-scored by the auditor
CUT_WINDOW = 4  # positions up to and including each cut whose disagreement is summed
GAIN_Z = 4.0  # how many standard errors of the honest noise the one-sided gain may reach


class EvaluationFailed(Exception):
    def __init__(
        self, reason: RunFailure, message: str, evidence: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence or {}


# --- tolerances ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How far two honest scorings of one position may disagree (nats of cross-entropy).

    `floor` is the largest disagreement measured between two honest scorings of the
    baseline on that device class (another process, order and batch composition, the
    same batch shape); `resolution` is the smallest difference we claim to resolve (a
    measured floor of 0 is raised to it); tolerance = margin * max(floor, resolution).
    Measure with `python bench/eval_floor.py --device ...`.
    """

    device_class: str
    floor: float | None  # None: not measured yet on this device class
    resolution: float
    margin: float
    measured: str

    @property
    def tolerance(self) -> float:
        return self.margin * max(self.floor or 0.0, self.resolution)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"tolerance": self.tolerance}


TOLERANCES = {
    # bench/eval_floor.py on the CPU baseline (4 layers, width 128, vocab 4096, T 256),
    # 2 threads, 8 audit draws: every compared position agreed bit for bit
    "cpu": Tolerance(
        "cpu",
        floor=0.0,
        resolution=2.0**-20,  # one float32 ulp of a logit between 8 and 16
        margin=10.0,
        measured="bench/eval_floor.py, baseline on CPU (x86-64, 2 threads): max |d nll| 0",
    ),
    # no GPU was available when this was written: the floor is provisional, one bf16 ulp
    # of a logit near 1 (the forward runs under bf16 autocast; logits come back in fp32)
    "cuda": Tolerance(
        "cuda",
        floor=None,
        resolution=2.0**-8,
        margin=10.0,
        measured="not measured yet (no GPU): provisional, bf16 resolution",
    ),
}


def tolerance_for(device: str) -> Tolerance:
    return TOLERANCES["cuda" if device.startswith("cuda") else "cpu"]


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


# --- the reduction ------------------------------------------------------------------


def rows_per_batch(val_rows: int, seq_len: int, vocab_size: int, slot_mb: int) -> int:
    per_row = seq_len * vocab_size * 4
    return max(1, min(val_rows, (slot_mb << 20) // per_row))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch ops on this thread with `n` threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class CrossEntropyReducer:
    """Per-token cross-entropy over logits [rows, T, vocab], in chunks of positions.

    log-sum-exp in float32 with the row max subtracted (exact to float32 rounding, and a
    NaN or infinity anywhere in a row shows up in that row's loss), into buffers reused
    from batch to batch; only the per-token losses are summed in float64.
    """

    def __init__(self, token_bytes: torch.Tensor, vocab_size: int) -> None:
        self.token_bytes = token_bytes
        self.work = torch.empty(REDUCE_CHUNK_TOKENS, vocab_size)
        self.row_max = torch.empty(REDUCE_CHUNK_TOKENS, 1)
        self.sum_exp = torch.empty(REDUCE_CHUNK_TOKENS, 1)

    def nll(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """float32 [rows, T]: -log softmax(logits)[target] at every position."""
        rows, T, V = logits.shape
        flat, flat_targets = logits.reshape(rows * T, V), targets.reshape(-1, 1)
        nll = torch.empty(rows * T)
        for s in range(0, rows * T, REDUCE_CHUNK_TOKENS):
            e = min(s + REDUCE_CHUNK_TOKENS, rows * T)
            chunk, n = flat[s:e], e - s
            row_max, work, sum_exp = self.row_max[:n], self.work[:n], self.sum_exp[:n]
            torch.amax(chunk, dim=-1, keepdim=True, out=row_max)
            torch.sub(chunk, row_max, out=work).exp_()
            torch.sum(work, dim=-1, keepdim=True, out=sum_exp)
            # nll = log(sum exp(z - max)) + max - z[target]
            picked = chunk.gather(1, flat_targets[s:e])
            nll[s:e] = (sum_exp.log_() + row_max - picked).squeeze(1)
        return nll.view(rows, T)

    def totals(self, nll: torch.Tensor, targets: torch.Tensor):
        """(sum of nats, sum of bytes, scored tokens, first non-finite (row, pos) or None)."""
        T = nll.size(-1)
        nbytes = self.token_bytes[targets.reshape(-1)]
        flat = nll.reshape(-1)
        counted = nbytes > 0
        bad = counted & ~torch.isfinite(flat)
        if bad.any():
            row, pos = divmod(int(bad.nonzero()[0]), T)
            return 0.0, 0, 0, (row, pos)
        total = float(flat[counted].sum(dtype=torch.float64))
        return total, int(nbytes[counted].sum()), int(counted.sum()), None

    def sums(self, logits: torch.Tensor, targets: torch.Tensor):
        """totals() of nll(): the sums over a whole batch."""
        return self.totals(self.nll(logits, targets), targets)


def cross_entropy_sums(logits: torch.Tensor, targets: torch.Tensor, token_bytes: torch.Tensor):
    """CrossEntropyReducer.sums with fresh buffers (for one-off use)."""
    return CrossEntropyReducer(token_bytes, logits.size(-1)).sums(logits, targets)


# --- the audit plan -----------------------------------------------------------------


@dataclass
class AuditPlan:
    """Secret: who scores which rows in which batches, and where the auditor's cuts are."""

    primary_batches: list[np.ndarray]  # row ids, `rows` each (the tail of the last: padding)
    primary_real: list[int]  # how many leading rows of each batch count
    auditor_batches: list[np.ndarray]
    auditor_real: list[int]
    auditor_inputs: dict[int, np.ndarray]  # row id -> what the auditor sees [T]
    cuts: dict[int, int]  # spliced row id -> last position left as it was
    donors: dict[int, tuple[int, int]]  # spliced row id -> (donor row, BOS position there)
    swap: bool  # the second child is the primary

    @property
    def audited(self) -> list[int]:
        return sorted(self.auditor_inputs)

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        val_rows: np.ndarray,
        bos: int,
        rows: int,
        audit_fraction: float,
    ) -> AuditPlan:
        n, T = val_rows.shape[0], val_rows.shape[1] - 1
        primary_batches, primary_real = cls._batches(rng, rng.permutation(n), n, rows)
        n_audit = min(n, rows * math.ceil(max(1, math.ceil(audit_fraction * n)) / rows))
        audited = rng.choice(n, size=n_audit, replace=False)
        auditor_batches, auditor_real = cls._batches(rng, rng.permutation(audited), n, rows)
        inputs = {int(r): val_rows[r, :T].copy() for r in audited}
        cuts, donors = {}, {}
        if T > 1:
            spliced = rng.choice(audited, size=max(1, n_audit // 2), replace=False)
            outsiders = np.setdiff1d(np.arange(n), audited)  # text the auditor never sees
            for r in (int(x) for x in spliced):
                pool = outsiders if outsiders.size else np.setdiff1d(np.arange(n), [r])
                if not pool.size:
                    break
                cut = cls._cut(rng, val_rows[r], bos, T)
                donor = int(rng.choice(pool))
                need = T - 1 - cut  # tokens after the cut
                starts = np.flatnonzero(val_rows[donor] == bos)
                starts = starts[starts + need <= T + 1]
                start = int(rng.choice(starts)) if starts.size else 0
                inputs[r][cut + 1 :] = val_rows[donor, start : start + need]
                cuts[r], donors[r] = cut, (donor, start)
        return cls(
            primary_batches,
            primary_real,
            auditor_batches,
            auditor_real,
            inputs,
            cuts,
            donors,
            swap=bool(rng.integers(2)),
        )

    @staticmethod
    def _batches(
        rng: np.random.Generator, order: np.ndarray, n: int, rows: int
    ) -> tuple[list[np.ndarray], list[int]]:
        """`order` in batches of exactly `rows` rows; the last topped up with other rows."""
        batches, real = [], []
        for s in range(0, len(order), rows):
            batch = order[s : s + rows]
            real.append(len(batch))
            if len(batch) < rows:
                filler = rng.choice(np.setdiff1d(np.arange(n), batch), rows - len(batch), False)
                batch = np.concatenate([batch, filler])
            batches.append(batch.astype(np.int64))
        return batches, real

    @staticmethod
    def _cut(rng: np.random.Generator, row: np.ndarray, bos: int, T: int) -> int:
        """A random position whose next input token is not BOS (so the splice changes it)."""
        candidates = np.flatnonzero(row[1:T] != bos)  # cut c keeps positions 0..c
        return int(rng.choice(candidates)) if candidates.size else int(rng.integers(T - 1))


# --- the evaluation -----------------------------------------------------------------


@dataclass
class ChildLink:
    """Our end of one evaluation child: its channel and its shared memory."""

    name: str
    channel: Channel
    buffers: SharedBuffers
    forward_seconds: float = 0.0  # as the child says: informative only
    scoring_seconds: float = 0.0  # our clock, from first request to last reply
    tokens: int = 0  # forwarded (padding included)

    def recv(self, clock: Clock) -> Scored:
        remaining = clock.remaining()
        if remaining <= 0:
            raise clock.timeout(f"waiting for evaluation child {self.name}")
        try:
            message = decode(self.channel.recv(timeout=remaining))
        except TimeoutError:
            raise clock.timeout(f"waiting for evaluation child {self.name}") from None
        except (ProtocolError, ChannelError) as exc:
            raise EvaluationFailed(
                RunFailure.CONTRACT, f"evaluation child {self.name}: {exc}"
            ) from None
        if isinstance(message, Failed):
            raise EvaluationFailed(RunFailure(message.reason), message.message)
        if not isinstance(message, Scored):
            raise EvaluationFailed(
                RunFailure.CONTRACT, f"unexpected message from the evaluation child: {message}"
            )
        return message


@dataclass
class EvalOutcome:
    val_bpb: float
    nats: float
    target_bytes: int
    scored_tokens: int
    integrity: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)  # where the evaluation time went


class Evaluator:
    def __init__(
        self,
        val_rows: np.ndarray,
        token_bytes: np.ndarray,
        vocab_size: int,
        bos_token_id: int,
        rows: int,
        tolerance: float,
        audit_fraction: float = AUDIT_FRACTION,
        seed: int | None = None,
    ) -> None:
        self.val_rows = val_rows  # int32 [N, T + 1]
        self.targets = torch.from_numpy(val_rows[:, 1:].astype(np.int64))
        self.token_bytes = torch.from_numpy(token_bytes.astype(np.int64))
        self.vocab_size = vocab_size
        self.rows = rows
        self.tolerance = tolerance
        self.seq_len = val_rows.shape[1] - 1
        # the plan must not follow from anything the train file knows (its seed included)
        rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
        self.plan = AuditPlan.draw(rng, val_rows, bos_token_id, rows, audit_fraction)
        self.private = torch.empty(rows, self.seq_len, vocab_size)  # our copy of a batch
        self.private_np = self.private.numpy()
        self.reducer = CrossEntropyReducer(self.token_bytes, vocab_size)

    @property
    def forwarded_tokens(self) -> int:
        batches = len(self.plan.primary_batches) + len(self.plan.auditor_batches)
        return batches * self.rows * self.seq_len

    def roles(self, a: ChildLink, b: ChildLink) -> tuple[ChildLink, ChildLink]:
        """(primary, auditor): which child is which is part of the secret."""
        return (b, a) if self.plan.swap else (a, b)

    def run(self, a: ChildLink, b: ChildLink, clock: Clock) -> EvalOutcome:
        # one thread here: the reduction is a small share of the work and overlaps the
        # child's forward pass, which should keep every core it was given
        with torch_threads(1):
            return self._run(*self.roles(a, b), clock)

    def _run(self, primary: ChildLink, auditor: ChildLink, clock: Clock) -> EvalOutcome:
        plan, T = self.plan, self.seq_len
        timing = {"reducing": 0.0}
        nats, nbytes, ntokens = 0.0, 0, 0
        kept: dict[int, torch.Tensor] = {}  # audited row -> the primary's nll [T]
        audited = set(plan.auditor_inputs)

        def primary_batch(i: int, logits: torch.Tensor) -> None:
            nonlocal nats, nbytes, ntokens
            ids, real = plan.primary_batches[i][: plan.primary_real[i]], plan.primary_real[i]
            targets = self.targets[ids]
            nll = self.reducer.nll(logits[:real], targets)
            n, b, t, bad = self.reducer.totals(nll, targets)
            if bad is not None:
                raise EvaluationFailed(
                    RunFailure.DIVERGED,
                    f"non-finite logits at validation row {int(ids[bad[0]])}, position {bad[1]}",
                )
            nats, nbytes, ntokens = nats + n, nbytes + b, ntokens + t
            for k, r in enumerate(ids.tolist()):
                if r in audited:
                    kept[r] = nll[k].clone()

        inputs = [self.val_rows[ids, :T] for ids in plan.primary_batches]
        self._score(primary, inputs, primary_batch, clock, timing)

        check = AuditCheck(self.tolerance, plan)

        def auditor_batch(j: int, logits: torch.Tensor) -> None:
            ids = plan.auditor_batches[j][: plan.auditor_real[j]]
            nll = self.reducer.nll(logits[: len(ids)], self.targets[ids])
            for k, r in enumerate(ids.tolist()):
                check.compare(r, kept[r], nll[k])

        inputs = [
            np.stack(
                [
                    plan.auditor_inputs.get(int(r), self.val_rows[r, :T])
                    for r in plan.auditor_batches[j]
                ]
            )
            for j in range(len(plan.auditor_batches))
        ]
        self._score(auditor, inputs, auditor_batch, clock, timing)
        if nbytes == 0:
            raise EvaluationFailed(
                RunFailure.CRASH, "the validation set has no scorable target bytes"
            )
        integrity = {"audit": check.verdict()}
        bpb = nats / (math.log(2) * nbytes)
        for link, role in ((primary, "primary"), (auditor, "auditor")):
            timing[f"{role}_scoring"] = link.scoring_seconds
            timing[f"{role}_tokens"] = link.tokens
            timing[f"{role}_child_forward"] = link.forward_seconds
        return EvalOutcome(bpb, nats, nbytes, ntokens, integrity, timing)

    def _score(
        self,
        link: ChildLink,
        batches: list[np.ndarray],
        handle: Callable[[int, torch.Tensor], None],
        clock: Clock,
        timing: dict[str, float],
    ) -> None:
        """Send `batches` (each [rows, T]) through the child, two slots in flight."""
        pending, free = deque(range(len(batches))), deque(range(SLOTS))
        in_flight: deque[tuple[int, int]] = deque()
        started = time.monotonic()
        while pending or in_flight:
            while pending and free:
                i, slot = pending.popleft(), free.popleft()
                link.buffers.inputs[slot] = batches[i]
                link.channel.send({"type": "score", "slot": slot, "rows": self.rows})
                in_flight.append((slot, i))
            reply = link.recv(clock)
            slot, i = in_flight.popleft()
            if reply.slot != slot:
                raise EvaluationFailed(
                    RunFailure.CONTRACT, f"scored slot {reply.slot}, expected {slot}"
                )
            if math.isfinite(reply.forward_seconds):
                link.forward_seconds += reply.forward_seconds
            link.tokens += self.rows * self.seq_len
            t0 = time.perf_counter()
            # our own copy first: the child may keep writing into its shared memory
            np.copyto(self.private_np, link.buffers.logits[slot])
            handle(i, self.private)
            timing["reducing"] += time.perf_counter() - t0
            free.append(slot)
        link.scoring_seconds += time.monotonic() - started


class AuditCheck:
    """Compares the auditor's per-position losses with the primary's, row by row."""

    def __init__(self, tolerance: float, plan: AuditPlan) -> None:
        self.tolerance = tolerance
        self.plan = plan
        self.positions = 0
        self.noise_sq = 0.0  # squared disagreements away from the cuts, for the noise level
        self.noise_n = 0
        self.gains: list[float] = []
        self.worst: dict[str, Any] = {"abs_diff": 0.0}

    def compare(self, row: int, primary: torch.Tensor, auditor: torch.Tensor) -> None:
        cut = self.plan.cuts.get(row)
        upto = len(primary) if cut is None else cut + 1
        p, a = primary[:upto].double(), auditor[:upto].double()
        same = (p == a) | (p.isnan() & a.isnan())  # equal infinities agree too
        diff = torch.where(same, torch.zeros_like(p), a - p)  # auditor minus primary
        magnitude = diff.abs()
        pos = int(magnitude.nan_to_num(math.inf).argmax())
        worst = float(magnitude[pos])
        self.positions += upto
        if not worst <= self.worst["abs_diff"]:
            self.worst = {
                "abs_diff": worst,
                "row": row,
                "position": pos,
                "primary_nll": float(p[pos]),
                "auditor_nll": float(a[pos]),
                "spliced": cut is not None,
                "cut": cut,
            }
        if not worst <= self.tolerance:  # NaN fails too
            what = (
                f"after its tail past position {cut} was replaced by other text"
                if cut is not None
                else "unchanged"
            )
            raise EvaluationFailed(
                RunFailure.INTEGRITY,
                f"audit failed: validation row {row} ({what}) scored by a second evaluation "
                f"process, in another order and batch, gave a loss at position {pos} differing "
                f"by {worst:.3g} nats > tolerance {self.tolerance:.3g}: the model's predictions "
                f"depend on later tokens, other rows or what it saw before",
                {"audit": self.evidence()},
            )
        window = upto if cut is None else max(0, cut + 1 - CUT_WINDOW)
        quiet = diff[:window]
        self.noise_sq += float((quiet * quiet).sum())
        self.noise_n += quiet.numel()
        if cut is not None:
            self.gains.append(float(diff[window:].sum()))

    def gain(self) -> dict[str, Any]:
        """Is the primary's loss just before the cuts lower than the noise allows?"""
        n = len(self.gains)
        sigma = math.sqrt(self.noise_sq / self.noise_n) if self.noise_n else 0.0
        mean = sum(self.gains) / n if n else 0.0
        threshold = GAIN_Z * math.sqrt(CUT_WINDOW) * sigma / math.sqrt(max(n, 1))
        threshold += 1e-3 * self.tolerance
        return {"cuts": n, "mean": mean, "noise_sigma": sigma, "threshold": threshold}

    def evidence(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "audited_rows": len(self.plan.auditor_inputs),
            "spliced_rows": len(self.plan.cuts),
            "compared_positions": self.positions,
            "worst": self.worst,
            "cut_gain": self.gain(),
        }

    def verdict(self) -> dict[str, Any]:
        evidence = self.evidence()
        gain = evidence["cut_gain"]
        if gain["cuts"] and not gain["mean"] <= gain["threshold"]:
            raise EvaluationFailed(
                RunFailure.INTEGRITY,
                f"audit failed: over {gain['cuts']} spliced rows the primary's loss at the "
                f"{CUT_WINDOW} positions before each cut was lower by {gain['mean']:.3g} nats "
                f"on average than when the true continuation was replaced (allowed: "
                f"{gain['threshold']:.3g}): the model uses tokens it should not see yet",
                {"audit": evidence},
            )
        return evidence
