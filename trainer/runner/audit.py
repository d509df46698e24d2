"""The audit of the primary evaluation child by the auditor: the measured tolerance per
device class, the secret plan (which rows, in which batches, cut where, spliced with
what) and the check of every audited position, including the one-sided gain at the cuts
that catches leaks smaller than the tolerance in aggregate (see trainer.runner.evaluation).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from trainer.runner.config import RunFailure
from trainer.runner.failures import EvaluationFailed

AUDIT_FRACTION = 0.10  # of the validation rows, at least, re-scored by the auditor
CUT_WINDOW = 4  # positions up to and including each cut whose disagreement is summed
GAIN_Z = 4.0  # how many standard errors of the honest noise the one-sided gain may reach


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
