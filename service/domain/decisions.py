"""Decisions that survive noise (SPEC §5): the statistics behind an evaluation.

The metric is `val_bpb`, lower is better. With candidate values c_1..c_n and
reference values r_1..r_m:

    delta   = mean(r) - mean(c)                 (positive = the candidate is better)
    s_pool  = sqrt(((n-1) s_c² + (m-1) s_r²) / (n + m - 2))   (pooled sample std)
    sigma   = max(track noise_std, s_pool)      (per-run noise; see below)
    se      = sigma * sqrt(1/n + 1/m)           (std of the difference of the means)
    z       = delta / se

    KEEP          delta > min_delta  and  z > k       (i.e. delta > k·se)
    DISCARD       delta <= 0                          (no improvement at all)
    INCONCLUSIVE  otherwise

Why the max: the calibration runs of the baseline measure the seed-to-seed noise
of the harness with more care than two or three replicates can, but a change can
also make training noisier than the baseline was. Taking the larger of the two
never lets a lucky low-variance sample claim a win the track's noise would not
support. When neither is known (single runs, no calibration) no positive delta
can be told from noise, so the verdict is INCONCLUSIVE.
"""

from __future__ import annotations

import math
import statistics

import msgspec

from service.domain.models import DecisionPolicy, Run, RunState, SampleStats, Verdict


class Decision(msgspec.Struct, kw_only=True):
    delta: float
    sigma: float | None  # per-run noise used (Evaluation.noise_std)
    z_score: float | None
    verdict: Verdict


def sample_std(values: list[float]) -> float | None:
    """Sample standard deviation (n - 1); None below two values."""
    return statistics.stdev(values) if len(values) >= 2 else None


def sample_stats(revision_id: str, runs: list[Run]) -> SampleStats:
    """Statistics over the runs' val_bpb; runs that did not succeed count as ids only."""
    values = [
        r.summary.val_bpb
        for r in runs
        if r.state == RunState.SUCCEEDED and r.summary is not None and r.summary.val_bpb is not None
    ]
    return SampleStats(
        revision_id=revision_id,
        run_ids=[r.id for r in runs],
        values=values,
        n=len(values),
        mean=statistics.fmean(values) if values else None,
        std=sample_std(values),
    )


def pooled_std(a: list[float], b: list[float]) -> float | None:
    dof = len(a) + len(b) - 2
    if dof <= 0:
        return None
    ss = 0.0
    for values in (a, b):
        if len(values) >= 2:
            ss += (len(values) - 1) * statistics.variance(values)
    return math.sqrt(ss / dof)


def decide(
    candidate: list[float],
    reference: list[float],
    track_noise_std: float | None,
    policy: DecisionPolicy,
) -> Decision:
    """The verdict of the module docstring. Both samples must be non-empty."""
    if not candidate or not reference:
        raise ValueError("decide needs at least one value on each side")
    delta = statistics.fmean(reference) - statistics.fmean(candidate)
    estimates = [s for s in (track_noise_std, pooled_std(candidate, reference)) if s is not None]
    sigma = max(estimates) if estimates else None

    z: float | None = None
    se: float | None = None
    if sigma is not None:
        se = sigma * math.sqrt(1 / len(candidate) + 1 / len(reference))
        if se > 0:
            z = delta / se
    if delta <= 0:
        verdict = Verdict.DISCARD
    elif se is None:
        verdict = Verdict.INCONCLUSIVE  # no noise estimate: a gain cannot be told from luck
    else:
        # se == 0: every measurement identical, so any positive delta is real.
        significant = z > policy.k_sigma if z is not None else True
        verdict = Verdict.KEEP if significant and delta > policy.min_delta else Verdict.INCONCLUSIVE
    return Decision(delta=delta, sigma=sigma, z_score=z, verdict=verdict)
