"""Trusted evaluation, supervisor side (SPEC §4).

The evaluation child gets validation inputs through a shared input file and writes
logits into a shared logits file; this side holds the targets and the per-token byte
lengths and computes

    val_bpb = sum of cross-entropy (nats) / (ln 2 * sum of target UTF-8 bytes)

over every pinned validation token, special tokens excluded from both sums. Whatever
the child's code does to torch (e.g. patching F.cross_entropy) cannot reach this
process. Two checks run on every evaluation:

- causality: one batch, picked at random, is scored again with a random suffix of
  half its rows replaced; logits before each cut (and all logits of untouched rows)
  must not move;
- statelessness: the first batch is scored again at the end; its logits must not move.

Check batches have exactly the shape of scoring batches, so a model cannot tell them
apart by shape; batches are kept small on CPU (a few rows) so that the two extra
forward passes cost a few percent. The cross-entropy runs in float32 over chunks of
tokens in reused buffers (no allocation per batch), summed in float64.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.runner.channel import Channel
from trainer.runner.config import CONTRACT, CRASH, DIVERGED, INTEGRITY

SLOTS = 2  # double buffering: the child scores one batch while we reduce the other
REDUCE_CHUNK_TOKENS = 256  # positions per cross-entropy chunk: [256, vocab] stays in cache


class EvaluationFailed(Exception):
    def __init__(self, reason: str, message: str, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence or {}


@dataclass
class SharedBuffers:
    """The two files both processes map: inputs int32 [S, R, T], logits float32 [S, R, T, V]."""

    directory: Path
    rows: int
    seq_len: int
    vocab_size: int
    inputs: np.memmap = field(init=False)
    logits: np.memmap = field(init=False)

    def __post_init__(self) -> None:
        shape = (SLOTS, self.rows, self.seq_len)
        self.inputs = np.memmap(self.inputs_path, dtype=np.int32, mode="w+", shape=shape)
        self.logits = np.memmap(
            self.logits_path, dtype=np.float32, mode="w+", shape=(*shape, self.vocab_size)
        )

    @property
    def inputs_path(self) -> Path:
        return self.directory / "val_inputs.i32"

    @property
    def logits_path(self) -> Path:
        return self.directory / "logits.f32"

    @classmethod
    def create(cls, fallback_dir: Path, rows: int, seq_len: int, vocab_size: int) -> SharedBuffers:
        """In /dev/shm (RAM) when it has room, else in `fallback_dir`."""
        needed = SLOTS * rows * seq_len * (vocab_size + 1) * 4
        shm = Path("/dev/shm")
        if shm.is_dir() and shutil.disk_usage(shm).free > 2 * needed:
            directory = Path(tempfile.mkdtemp(prefix="loopy-eval-", dir=shm))
        else:
            directory = Path(tempfile.mkdtemp(prefix="shared-", dir=fallback_dir))
        return cls(directory, rows, seq_len, vocab_size)

    def close(self) -> None:
        del self.inputs, self.logits
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Job:
    kind: str  # "score" | "causality" | "statelessness"
    batch: int
    inputs: np.ndarray  # int32 [rows, T]
    cuts: dict[int, int] = field(default_factory=dict)  # causality: row -> last unchanged position


@dataclass
class EvalOutcome:
    val_bpb: float
    nats: float
    target_bytes: int
    scored_tokens: int
    integrity: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)  # where the evaluation time went


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
    """Per-token cross-entropy sums over logits [rows, T, vocab], in chunks of positions.

    log-sum-exp in float32 with the row max subtracted (exact to float32 rounding, and a
    NaN or infinity anywhere in a row shows up in that row's loss), into buffers reused
    from batch to batch; only the per-token losses are summed in float64.
    """

    def __init__(self, token_bytes: torch.Tensor, vocab_size: int) -> None:
        self.token_bytes = token_bytes
        self.work = torch.empty(REDUCE_CHUNK_TOKENS, vocab_size)
        self.row_max = torch.empty(REDUCE_CHUNK_TOKENS, 1)
        self.sum_exp = torch.empty(REDUCE_CHUNK_TOKENS, 1)

    def sums(self, logits: torch.Tensor, targets: torch.Tensor):
        """(sum of nats, sum of bytes, scored tokens, first non-finite (row, pos) or None)."""
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
        nbytes = self.token_bytes[flat_targets.squeeze(1)]
        counted = nbytes > 0
        bad = counted & ~torch.isfinite(nll)
        if bad.any():
            row, pos = divmod(int(bad.nonzero()[0]), T)
            return 0.0, 0, 0, (row, pos)
        total = float(nll[counted].sum(dtype=torch.float64))
        return total, int(nbytes[counted].sum()), int(counted.sum()), None


def cross_entropy_sums(logits: torch.Tensor, targets: torch.Tensor, token_bytes: torch.Tensor):
    """CrossEntropyReducer.sums with fresh buffers (for one-off use)."""
    return CrossEntropyReducer(token_bytes, logits.size(-1)).sums(logits, targets)


class Evaluator:
    def __init__(
        self,
        val_inputs: np.ndarray,
        val_targets: np.ndarray,
        token_bytes: np.ndarray,
        vocab_size: int,
        rows: int,
        atol: float,
    ) -> None:
        self.inputs = val_inputs
        self.targets = torch.from_numpy(val_targets.astype(np.int64))
        self.token_bytes = torch.from_numpy(token_bytes.astype(np.int64))
        self.vocab_size = vocab_size
        self.rows = rows
        self.atol = atol
        n_rows, self.seq_len = val_inputs.shape
        self.batches = [(s, min(s + rows, n_rows)) for s in range(0, n_rows, rows)]
        # the checks must not be predictable from the run seed, which the train file knows
        self.rng = np.random.default_rng(secrets.randbits(64))
        self.probe = int(self.rng.integers(len(self.batches)))  # the batch checked for causality

    def plan(self) -> list[Job]:
        jobs = []
        for b, (s, e) in enumerate(self.batches):
            jobs.append(Job("score", b, self.inputs[s:e]))
            if b == self.probe and self.seq_len > 1:
                jobs.append(self.causality_job(b))
        s, e = self.batches[0]
        jobs.append(Job("statelessness", 0, self.inputs[s:e]))
        return jobs

    def causality_job(self, b: int) -> Job:
        s, e = self.batches[b]
        inputs = self.inputs[s:e].copy()
        n = e - s
        rows = self.rng.choice(n, size=max(1, n // 2), replace=False)
        cuts = {}
        for r in rows.tolist():
            cut = int(self.rng.integers(0, self.seq_len - 1))  # positions <= cut stay
            shift = self.rng.integers(1, self.vocab_size, size=self.seq_len - cut - 1)
            inputs[r, cut + 1 :] = (inputs[r, cut + 1 :] + shift) % self.vocab_size
            cuts[r] = cut
        return Job("causality", b, inputs, cuts)

    def run(self, channel: Channel, shared: SharedBuffers, timeout: float) -> EvalOutcome:
        # one thread here: the reduction is a small share of the work and overlaps the
        # child's forward pass, which should keep every core it was given
        with torch_threads(1):
            return self._run(channel, shared, timeout)

    def _run(self, channel: Channel, shared: SharedBuffers, timeout: float) -> EvalOutcome:
        jobs = deque(self.plan())
        in_flight: deque[tuple[int, Job]] = deque()
        free_slots = deque(range(SLOTS))
        kept: dict[int, torch.Tensor] = {}  # batch -> logits of its plain scoring
        nats, nbytes, ntokens = 0.0, 0, 0
        integrity: dict[str, Any] = {"atol": self.atol}
        reducer = CrossEntropyReducer(self.token_bytes, self.vocab_size)
        timing = dict.fromkeys(("waiting", "reducing", "child_forward", "child_copy"), 0.0)
        timing["batches"] = 0
        while jobs or in_flight:
            while jobs and free_slots:
                job, slot = jobs.popleft(), free_slots.popleft()
                rows = job.inputs.shape[0]
                shared.inputs[slot, :rows] = job.inputs
                channel.send({"type": "score", "slot": slot, "rows": rows})
                in_flight.append((slot, job))
            t0 = time.perf_counter()
            reply = channel.recv(timeout=timeout)
            t1 = time.perf_counter()
            timing["waiting"] += t1 - t0
            timing["batches"] += 1
            # the child's own account of its time: informative only, never trusted
            for key in ("forward", "copy"):
                value = reply.get(f"{key}_seconds")
                if isinstance(value, float | int) and math.isfinite(value):
                    timing[f"child_{key}"] += float(value)
            if reply.get("type") == "failed":
                raise EvaluationFailed(str(reply.get("reason", CRASH)), str(reply.get("message")))
            slot, job = in_flight.popleft()
            if reply.get("type") != "scored" or reply.get("slot") != slot:
                raise EvaluationFailed(
                    CONTRACT, f"unexpected reply from the evaluation child: {reply}"
                )
            rows = job.inputs.shape[0]
            logits = torch.from_numpy(np.asarray(shared.logits[slot, :rows]))
            if job.kind == "score":
                s, e = self.batches[job.batch]
                n, b, t, bad = reducer.sums(logits, self.targets[s:e])
                if bad is not None:
                    raise EvaluationFailed(
                        DIVERGED,
                        f"non-finite logits at validation row {s + bad[0]}, position {bad[1]}",
                    )
                nats, nbytes, ntokens = nats + n, nbytes + b, ntokens + t
                if job.batch in (0, self.probe):
                    kept[job.batch] = logits.clone()
            elif job.kind == "causality":
                integrity["causality"] = self.check_causality(job, logits, kept[job.batch])
            else:
                integrity["statelessness"] = self.check_statelessness(logits, kept[0])
            free_slots.append(slot)
            timing["reducing"] += time.perf_counter() - t1
        if nbytes == 0:
            raise EvaluationFailed(CRASH, "the validation set has no scorable target bytes")
        integrity.setdefault("causality", {"checked": False, "why": "sequence length 1"})
        bpb = nats / (math.log(2) * nbytes)
        return EvalOutcome(bpb, nats, nbytes, ntokens, integrity, timing)

    def check_causality(
        self, job: Job, logits: torch.Tensor, original: torch.Tensor
    ) -> dict[str, Any]:
        s, _ = self.batches[job.batch]
        diff = (logits - original).abs().amax(dim=-1)  # [rows, T]
        untouched = torch.ones(diff.shape[0], dtype=torch.bool)
        untouched[list(job.cuts)] = False
        # rows whose inputs did not change at all must give the same logits: if they do not,
        # the model depends on earlier calls (or on other rows), which is not a causality leak
        if untouched.any():
            moved = diff.masked_fill(~untouched[:, None], 0.0)
            worst = float(moved.max())
            if not worst <= self.atol:  # NaN fails too
                row, pos = (
                    int(i) for i in np.unravel_index(int(moved.argmax()), tuple(moved.shape))
                )
                evidence: dict[str, Any] = {
                    "checked": True,
                    "max_abs_diff": worst,
                    "worst_row": s + row,
                    "worst_position": pos,
                }
                raise EvaluationFailed(
                    INTEGRITY,
                    f"statelessness check failed: scoring validation row {s + row} again with "
                    f"the same inputs moved its logits at position {pos} by {worst:.3g} > "
                    f"{self.atol:g}: the model's output depends on earlier calls or other rows",
                    {"statelessness": evidence},
                )
        allowed = torch.ones(diff.shape, dtype=torch.bool)
        for r, cut in job.cuts.items():
            allowed[r, cut + 1 :] = False  # these positions saw changed inputs: free to differ
        prefix = diff.masked_fill(~allowed, 0.0)
        worst = float(prefix.max())
        row, pos = (int(i) for i in np.unravel_index(int(prefix.argmax()), tuple(prefix.shape)))
        evidence = {
            "checked": True,
            "batch": job.batch,
            "perturbed_rows": {str(s + r): cut for r, cut in job.cuts.items()},
            "max_abs_diff": worst,
            "worst_row": s + row,
            "worst_position": pos,
        }
        if not worst <= self.atol:
            raise EvaluationFailed(
                INTEGRITY,
                f"causality check failed: changing the tokens after position {job.cuts.get(row)} "
                f"of validation row {s + row} moved its logits at position {pos} by {worst:.3g} "
                f"> {self.atol:g}: the model looks at future tokens",
                {"causality": evidence},
            )
        return evidence

    def check_statelessness(self, logits: torch.Tensor, original: torch.Tensor) -> dict[str, Any]:
        diff = (logits - original).abs().amax(dim=-1)
        worst = float(diff.max())
        row, pos = (int(i) for i in np.unravel_index(int(diff.argmax()), tuple(diff.shape)))
        evidence = {"checked": True, "max_abs_diff": worst, "worst_row": row, "worst_position": pos}
        if not worst <= self.atol:
            raise EvaluationFailed(
                INTEGRITY,
                f"statelessness check failed: scoring the first batch again changed the logits at "
                f"row {row}, position {pos} by {worst:.3g} > {self.atol:g}: the model's output "
                f"depends on earlier calls",
                {"statelessness": evidence},
            )
        return evidence
