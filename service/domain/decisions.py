"""Decisions that survive noise (SPEC §5): the statistics behind an evaluation.

The metric is `val_bpb`, lower is better. Decisions v2 compares *pairs*: replicate i
of the candidate and of the reference use the same seed and are dispatched together,
so they train close in time on comparable workers. With paired gains
d_i = reference_i - candidate_i (positive = the candidate is better):

- **Sequential test** (`mixture_e_value`): the scale-invariant Bayes factor of the
  one-sample t-test with a normal prior on the standardised effect d/sigma
  (sigma unknown, right-Haar prior). Its value after n pairs depends on the data
  only through t and n: under "no gain" the t statistic has density f_nu(t) and
  under the mixture t / sqrt(1 + n g) ~ t_nu exactly, so the factor is a ratio of
  Student-t densities. It is a likelihood ratio of the growing maximal invariant
  of the scale group, hence a test martingale under the null (Pérez-Ortiz, Lardy,
  de Heide, Grünwald 2024), and by Ville's inequality P(ever >= 1/level) <= level:
  the evaluation may look after every round and stop at once. Small samples
  need no normal approximation: the Student-t densities are exact for any n >= 2.
- **Error control over the track** (`lord_level`): each evaluation draws its level
  from the track's false-discovery budget by LORD++ (Ramdas, Yang, Wainwright,
  Jordan 2017), using only the KEEPs known when it starts (asynchronous LORD,
  Zrnic, Ramdas, Jordan 2021). Why LORD++ over alpha-investing: its levels are a
  fixed function of the past discovery times (easy to audit and recompute from
  the stored evaluations), every discovery pays back wealth so a productive track
  keeps testing at useful levels, it controls FDR (not only mFDR) under
  independence, and in the published comparisons it is at least as powerful.
- **Confounding** (`speed_check`): every run carries a machine-speed probe
  measured by the worker just before training. When the two sides' speeds differ
  by more than the tolerance and by more than the probes' own scatter allows,
  the comparison says CONFOUNDED with the figures instead of a verdict.

`decide` (today's rule until v2: a z-score with pooled sigma over unpaired
samples) is kept for the benchmark that compares the two (bench/decisions.py).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import math
import statistics
from collections.abc import Iterable, Sequence

import msgspec

from service.domain.models import (
    DecisionPolicy,
    ErrorBudget,
    EvalPair,
    Run,
    RunState,
    SampleStats,
    SpeedCheck,
    Verdict,
)


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


# --- Behavioural equivalence -----------------------------------------------------


def _drop_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                # An empty body still needs a statement to stay a valid tree.
                node.body = body[1:] or [ast.Pass()]


def ast_hash(source: str) -> str:
    """sha256 of the code's AST without comments, docstrings and formatting.

    Two sources with the same hash compile to the same behaviour; "" when the
    source does not parse (a proposal never stores such code).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    _drop_docstrings(tree)
    dump = ast.dump(tree, annotate_fields=True, include_attributes=False)
    return hashlib.sha256(dump.encode("utf-8")).hexdigest()


# --- Student-t helpers (no scipy in the service) -----------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        num = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-12:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, nu: float) -> float:
    """P(T <= t) for Student's t with nu degrees of freedom."""
    tail = 0.5 * _betainc(nu / 2.0, 0.5, nu / (nu + t * t))
    return 1.0 - tail if t >= 0 else tail


@functools.lru_cache(maxsize=4096)
def t_quantile(p: float, nu: float) -> float:
    """The p-quantile of Student's t (bisection on the CDF; 0 < p < 1)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if p < 0.5:
        return -t_quantile(1.0 - p, nu)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, nu) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, nu) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """The Student-t confidence interval of the mean; None below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = statistics.fmean(values)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return mean - half, mean + half


# --- The sequential test ----------------------------------------------------------

# Prior scale g of the standardised paired gain d/sigma ~ N(0, g). A gain of about
# one to three paired standard deviations is what a useful edit shows here
# (bench/decisions.py); g = 4 puts the prior's spread there.
PRIOR_EFFECT_VARIANCE = 4.0
# A candidate is DISCARDed early when it is worse with this much evidence (fixed,
# spends nothing: a DISCARD is not a discovery).
WORSE_E_VALUE = 20.0
# The fewest pairs before an early DISCARD for showing no gain at all.
MIN_PAIRS_FOR_FUTILITY = 4


def mixture_e_value(diffs: Sequence[float], g: float = PRIOR_EFFECT_VARIANCE) -> float:
    """The scale-invariant mixture likelihood ratio of "mean gain != 0" (module docstring).

    1.0 (no evidence either way) below two pairs. Identical non-zero pairs give the
    factor's finite ceiling (1 + n g)^((n - 1) / 2); all-zero pairs give 1.
    """
    n = len(diffs)
    if n < 2:
        return 1.0
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs)
    if sd == 0.0:
        return 1.0 if mean == 0.0 else (1.0 + n * g) ** ((n - 1) / 2.0)
    return mixture_e_value_from_t(mean / (sd / math.sqrt(n)), n, g)


def mixture_e_value_from_t(t: float, n: int, g: float = PRIOR_EFFECT_VARIANCE) -> float:
    """The factor of `mixture_e_value` from the one-sample t statistic of n values."""
    if n < 2:
        return 1.0
    nu = n - 1
    c = 1.0 + n * g
    t2 = t * t
    log_e = -0.5 * math.log(c) - (nu + 1) / 2.0 * (math.log1p(t2 / (c * nu)) - math.log1p(t2 / nu))
    return math.exp(log_e)


class SequentialDecision(msgspec.Struct, kw_only=True):
    verdict: Verdict | None  # None: not decisive yet, run more pairs
    e_value: float
    threshold: float
    mean: float | None
    std: float | None
    interval: tuple[float, float] | None
    reason: str


def sequential_decision(
    diffs: Sequence[float],
    level: float,
    policy: DecisionPolicy,
    *,
    pairs_left: int,
) -> SequentialDecision:
    """Look at the complete pairs so far. KEEP needs e >= 1/level (anytime-valid), a mean
    gain above policy.min_delta; DISCARD when clearly worse, when no gain shows after
    MIN_PAIRS_FOR_FUTILITY pairs, or when the pairs run out without a gain;
    INCONCLUSIVE when they run out with an unproven gain; None = keep going."""
    n = len(diffs)
    threshold = 1.0 / level if level > 0 else math.inf
    e = mixture_e_value(diffs)
    mean = statistics.fmean(diffs) if diffs else None
    std = statistics.stdev(diffs) if n >= 2 else None
    interval = t_interval(diffs)

    def result(verdict: Verdict | None, reason: str) -> SequentialDecision:
        return SequentialDecision(
            verdict=verdict,
            e_value=e,
            threshold=threshold,
            mean=mean,
            std=std,
            interval=interval,
            reason=reason,
        )

    if mean is not None and n >= 2:
        if mean > 0 and e >= threshold:
            if mean > policy.min_delta:
                return result(
                    Verdict.KEEP,
                    f"e = {e:.3g} >= {threshold:.3g} after {n} pairs: the gain is real",
                )
            return result(
                Verdict.INCONCLUSIVE,
                f"the gain {mean:.4g} is real but not above min_delta {policy.min_delta:g}",
            )
        if mean < 0 and e >= WORSE_E_VALUE:
            return result(
                Verdict.DISCARD, f"worse with e = {e:.3g} >= {WORSE_E_VALUE:g} after {n} pairs"
            )
        if mean <= 0 and n >= MIN_PAIRS_FOR_FUTILITY:
            return result(Verdict.DISCARD, f"no gain after {n} pairs (mean {mean:.4g})")
        if n >= MIN_PAIRS_FOR_FUTILITY and pairs_left > 0 and std:
            # Curtail: even if the gain held at its current size for every pair left, the
            # e-value would stay below the threshold. Stopping early never adds a KEEP.
            last = n + pairs_left
            projected = mixture_e_value_from_t(mean / std * math.sqrt(last), last)
            if projected < threshold:
                return result(
                    Verdict.INCONCLUSIVE,
                    f"a gain of {mean:.4g} after {n} pairs could not reach e = {threshold:.3g} "
                    f"within {last} pairs (projected {projected:.3g}): stopped early",
                )
    if pairs_left > 0:
        return result(None, f"e = {e:.3g} of {threshold:.3g} after {n} pairs: more pairs")
    if mean is None or mean <= 0:
        return result(Verdict.DISCARD, f"no gain over {n} pairs")
    return result(
        Verdict.INCONCLUSIVE,
        f"a gain of {mean:.4g} over {n} pairs, but e = {e:.3g} < {threshold:.3g}",
    )


# --- LORD++: the track's false-discovery budget -------------------------------------

LORD_RULE = "LORD++"
# Javanmard & Montanari (2018): gamma_j = C log(max(j, 2)) / (j exp(sqrt(log j))),
# C chosen so the sequence sums to 1.
_GAMMA_C = 0.07720838


def lord_gamma(j: int) -> float:
    if j < 1:
        return 0.0
    return _GAMMA_C * math.log(max(j, 2)) / (j * math.exp(math.sqrt(math.log(j))))


def lord_level(t: int, discoveries: Iterable[int], alpha: float) -> float:
    """The level of test t (1-based) given the indices of earlier KEEPs known now.

    alpha_t = gamma_t W0 + (alpha - W0) gamma_{t - tau_1} + alpha sum_{j>=2} gamma_{t - tau_j},
    with W0 = alpha / 2.
    """
    w0 = alpha / 2.0
    taus = sorted(d for d in discoveries if d < t)
    level = lord_gamma(t) * w0
    for k, tau in enumerate(taus):
        level += (alpha - w0 if k == 0 else alpha) * lord_gamma(t - tau)
    return min(level, alpha)


def error_budget(
    alpha: float, levels: Sequence[float], discoveries: Sequence[int], tests: int
) -> ErrorBudget:
    """What remains of the budget: `levels` are those drawn, `discoveries` the KEEPs'
    test indices, `tests` how many tests drew a level."""
    w0 = alpha / 2.0
    r = len(discoveries)
    earned = w0 + (alpha - w0 if r >= 1 else 0.0) + alpha * max(0, r - 1)
    spent = float(sum(levels))
    return ErrorBudget(
        rule=LORD_RULE,
        alpha=alpha,
        tests=tests,
        discoveries=r,
        spent=spent,
        earned=earned,
        remaining=max(0.0, earned - spent),
        next_level=lord_level(tests + 1, discoveries, alpha),
    )


# --- Machine speed ------------------------------------------------------------------

# The probe's own run-to-run scatter on an idle machine (relative). The noise used is
# the larger of this and the pairs' observed scatter.
PROBE_NOISE_FLOOR = 0.03


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def speed_check(
    pairs: Sequence[EvalPair],
    candidate_runs: Sequence[Run],
    reference_runs: Sequence[Run],
    tolerance: float,
) -> SpeedCheck:
    """Compare the machine speeds of the two sides over the pairs that have both probes.

    Confounded when the geometric-mean speed ratio is off by more than `tolerance`
    AND significantly so: a two-sided paired t-test of the log ratios at 1 % (Student's t
    with n - 1 degrees of freedom, the scatter floored at the probe's own noise). Random
    load differences that cancel out across pairs only add noise to the gains, which the
    e-value accounts for; a one-sided machine does not cancel. One pair cannot tell.
    """
    logs = [
        math.log(p.candidate_speed / p.reference_speed)
        for p in pairs
        if p.candidate_speed and p.reference_speed
    ]
    check = SpeedCheck(pairs_with_probe=len(logs), tolerance=tolerance)

    def succeeded(runs: Sequence[Run]) -> list[Run]:
        return [r for r in runs if r.state is RunState.SUCCEEDED and r.summary is not None]

    cand, ref = succeeded(candidate_runs), succeeded(reference_runs)
    check.candidate_steps = _mean([float(r.summary.num_steps) for r in cand if r.summary])
    check.reference_steps = _mean([float(r.summary.num_steps) for r in ref if r.summary])
    check.candidate_tokens = _mean([float(r.summary.total_tokens) for r in cand if r.summary])
    check.reference_tokens = _mean([float(r.summary.total_tokens) for r in ref if r.summary])
    if not logs:
        return check
    mean_log = statistics.fmean(logs)
    scatter = statistics.stdev(logs) if len(logs) >= 2 else 0.0
    noise = max(scatter, PROBE_NOISE_FLOOR) / math.sqrt(len(logs))
    check.speed_ratio = math.exp(mean_log)
    check.ratio_noise = noise
    if len(logs) >= 2:
        critical = t_quantile(0.995, len(logs) - 1) * noise
        check.confounded = abs(mean_log) > max(math.log1p(tolerance), critical)
    return check


def speeds_match(a: float | None, b: float | None, tolerance: float) -> bool:
    """Both probes known and within the tolerance: evidence of the same machine speed."""
    if not a or not b:
        return False
    return abs(math.log(a / b)) <= math.log1p(tolerance)
