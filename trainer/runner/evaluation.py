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

import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trainer.runner.audit import AUDIT_FRACTION, AuditCheck, AuditPlan
from trainer.runner.channel import Channel, ChannelError
from trainer.runner.config import RunFailure
from trainer.runner.deadlines import Clock, torch_threads
from trainer.runner.eval_protocol import (
    SLOTS,
    Failed,
    ProtocolError,
    Scored,
    SharedBuffers,
    decode,
)
from trainer.runner.failures import EvaluationFailed

REDUCE_CHUNK_TOKENS = 256  # positions per cross-entropy chunk: [256, vocab] stays in cache


# --- the reduction ------------------------------------------------------------------


def rows_per_batch(val_rows: int, seq_len: int, vocab_size: int, slot_mb: int) -> int:
    per_row = seq_len * vocab_size * 4
    return max(1, min(val_rows, (slot_mb << 20) // per_row))


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
