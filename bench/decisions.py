"""Decision rules side by side on simulated edits with the demo track's noise.

    python -m bench.decisions [--edits 1000] [--tracks 20] [--rho 0.8] [--seed 0]

The noise model (per run of the same code, val_bpb):

    bpb = base - gain + beta * z_load + sigma_seed * z_seed

`z_load` is the machine's load while the run trained (standard normal): on a
shared CPU it sets how many steps a wall-clock budget buys. `sigma_total`,
the share of it that load explains (r with the steps) and the spread of the
speed come from the demo track's calibration data reported in issue 10 (10 runs
of the unchanged baseline, 20 s budget, busy 2-core machine: sigma = 0.159 bpb,
r(val_bpb, steps) = -0.97, 61 to 216 steps); so beta = 0.97 sigma_total and
sigma_seed = sqrt(1 - 0.97^2) sigma_total. `--rho` is the correlation of the load
between the two runs of a pair, dispatched back to back (measured with the
worker's speed probe: `--probe-series`, see below). The speed probe of a run
reads exp(speed_sd * z_load + probe noise). Same-seed runs of the two sides are
taken as independent in their seed noise (conservative: a shared seed only helps).

Rules compared (gains in units of sigma_total, the per-run noise calibration sees):

- today: the rule before decisions v2. The candidate's run plus 2 replicates
  (3 runs, trained now) against the 3 calibration runs of the head (trained when the
  track was created, under another load), z = delta / (sigma sqrt(2/3)) with sigma the
  larger of the calibration std and the pooled std; KEEP when z > 2.
- paired: 3 pairs (same seed, back to back), one-sided paired t-test at 0.05.
- v2: paired + sequential + FDR, exactly as the service runs it: rounds of 2 pairs up
  to 8, the mixture e-value, LORD++ levels over the stream of edits (alpha = 0.05),
  CONFOUNDED when the probes disagree (service.domain.decisions).

For each gain size the stream is `--edits` edits of which 10 % carry the gain (the
rest are null); the null-only rows use `--edits` null edits. Figures per rule:
false-KEEP rate among null edits, detection rate among real gains, the share of
false KEEPs among KEEPs (FDP), runs per edit, CONFOUNDED share.

`--probe-series FILE` (CSV t,gflops written by sampling the speed probe every few
seconds) prints the spread of log speed, the correlation of two snapshots
`--spacing-s` apart and the correlation of the mean speed of consecutive windows of
that length (what two back-to-back runs see), to set --rho.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import statistics
from dataclasses import dataclass, field

from service.domain.decisions import (
    lord_level,
    sequential_decision,
    speed_check,
    t_quantile,
)
from service.domain.models import DecisionPolicy, EvalPair, Verdict

SIGMA_TOTAL = 0.159  # bpb, 10 calibration runs of the baseline (issue 10)
R_STEPS = 0.97  # |r(val_bpb, steps)| over those runs
SPEED_SD = 0.40  # sd of log(steps) over those runs: 61..216 steps, ~ range / 3.2
PROBE_NOISE = 0.03  # the probe's own relative scatter at a fixed load


@dataclass
class Noise:
    rho: float  # load correlation of the two runs of a pair
    beta: float = R_STEPS * SIGMA_TOTAL  # 0 with a TOKENS budget: load changes time, not bpb
    sigma_seed: float = math.sqrt(1 - R_STEPS**2) * SIGMA_TOTAL

    def run(self, rng: random.Random, gain: float, z_load: float) -> tuple[float, float]:
        """(val_bpb, speed probe) of one run."""
        bpb = 1.5 - gain + self.beta * z_load + self.sigma_seed * rng.gauss(0, 1)
        probe = 100.0 * math.exp(-SPEED_SD * z_load + PROBE_NOISE * rng.gauss(0, 1))
        return bpb, probe

    def pair_loads(self, rng: random.Random) -> tuple[float, float]:
        a = rng.gauss(0, 1)
        b = self.rho * a + math.sqrt(1 - self.rho**2) * rng.gauss(0, 1)
        return a, b


@dataclass
class Tally:
    null: int = 0
    real: int = 0
    false_keeps: int = 0
    true_keeps: int = 0
    runs: int = 0
    edits: int = 0
    confounded: int = 0
    fdp: list[float] = field(default_factory=list)

    def add_stream(self, false_keeps: int, true_keeps: int) -> None:
        keeps = false_keeps + true_keeps
        self.fdp.append(false_keeps / keeps if keeps else 0.0)


def today(
    rng: random.Random, noise: Noise, gain: float, calibration: list[float]
) -> tuple[bool, int]:
    candidate = [noise.run(rng, gain, rng.gauss(0, 1))[0] for _ in range(3)]
    delta = statistics.fmean(calibration) - statistics.fmean(candidate)
    pooled = math.sqrt((statistics.variance(candidate) + statistics.variance(calibration)) / 2)
    sigma = max(statistics.stdev(calibration), pooled)
    z = delta / (sigma * math.sqrt(2 / 3))
    return (delta > 0 and z > 2.0), 3


def paired_fixed(rng: random.Random, noise: Noise, gain: float) -> tuple[bool, int]:
    diffs = []
    for _ in range(3):
        zc, zr = noise.pair_loads(rng)
        diffs.append(noise.run(rng, 0.0, zr)[0] - noise.run(rng, gain, zc)[0])
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    t = mean / (sd / math.sqrt(3)) if sd > 0 else math.inf
    return t > t_quantile(0.95, 2), 6


def v2(
    rng: random.Random, noise: Noise, gain: float, level: float, policy: DecisionPolicy
) -> tuple[Verdict, int]:
    pairs: list[EvalPair] = []
    diffs: list[float] = []
    while True:
        for _ in range(policy.replicates):
            zc, zr = noise.pair_loads(rng)
            c, cs = noise.run(rng, gain, zc)
            r, rs = noise.run(rng, 0.0, zr)
            pairs.append(
                EvalPair(
                    seed=len(pairs),
                    candidate_run_id="c",
                    reference_run_id="r",
                    difference=r - c,
                    candidate_speed=cs,
                    reference_speed=rs,
                )
            )
            diffs.append(r - c)
        runs = 2 * len(pairs)
        if speed_check(pairs, [], [], policy.speed_tolerance).confounded:
            return Verdict.CONFOUNDED, runs
        decision = sequential_decision(
            diffs, level, policy, pairs_left=policy.max_pairs - len(pairs)
        )
        if decision.verdict is not None:
            return decision.verdict, runs


def simulate(args: argparse.Namespace, gain_sigmas: float | None) -> dict[str, Tally]:
    """One row: `--tracks` streams of `--edits` edits (10 % real when gain_sigmas)."""
    noise = make_noise(args)
    policy = DecisionPolicy()
    rng = random.Random(args.seed)
    tallies = {name: Tally() for name in ("today", "paired", "v2")}
    for _ in range(args.tracks):
        calibration = [noise.run(rng, 0.0, rng.gauss(0, 1))[0] for _ in range(3)]
        discoveries: list[int] = []
        stream = {name: [0, 0] for name in tallies}  # false, true keeps
        for t in range(1, args.edits + 1):
            real = gain_sigmas is not None and rng.random() < 0.10
            gain = (gain_sigmas or 0.0) * SIGMA_TOTAL if real else 0.0
            results = {
                "today": today(rng, noise, gain, calibration),
                "paired": paired_fixed(rng, noise, gain),
            }
            level = lord_level(t, discoveries, policy.fdr_alpha)
            verdict, runs = v2(rng, noise, gain, level, policy)
            if verdict is Verdict.KEEP:
                discoveries.append(t)
            results["v2"] = (verdict is Verdict.KEEP, runs)
            for name, (kept, used) in results.items():
                tally = tallies[name]
                tally.edits += 1
                tally.runs += used
                if real:
                    tally.real += 1
                    tally.true_keeps += kept
                    stream[name][1] += kept
                else:
                    tally.null += 1
                    tally.false_keeps += kept
                    stream[name][0] += kept
            tallies["v2"].confounded += verdict is Verdict.CONFOUNDED
        for name, (false, true) in stream.items():
            tallies[name].add_stream(false, true)
    return tallies


def make_noise(args: argparse.Namespace) -> Noise:
    noise = Noise(rho=args.rho)
    if args.budget == "tokens":
        noise.beta = 0.0
    return noise


def lag_correlation(path: str, spacing_s: float) -> tuple[float, float, int]:
    """(lag correlation of log speed at ~spacing_s, sd of log speed, samples)."""
    with open(path) as f:
        rows = [(float(r["t"]), float(r["gflops"])) for r in csv.DictReader(f) if r.get("gflops")]
    logs = [math.log(g) for _, g in rows]
    times = [t for t, _ in rows]
    pairs = []
    j = 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + spacing_s:
            j += 1
        if j < len(times):
            pairs.append((logs[i], logs[j]))
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    return statistics.correlation(a, b), statistics.stdev(logs), len(rows)


def window_correlation(path: str, window_s: float) -> tuple[float, int]:
    """Correlation of the mean log speed of consecutive windows of window_s seconds: the
    load two back-to-back runs of that length see (and the number of windows)."""
    with open(path) as f:
        rows = [
            (float(r["t"]), math.log(float(r["gflops"])))
            for r in csv.DictReader(f)
            if r.get("gflops")
        ]
    windows: dict[int, list[float]] = {}
    for t, value in rows:
        windows.setdefault(int(t // window_s), []).append(value)
    means = [statistics.fmean(windows[k]) for k in sorted(windows)]
    return statistics.correlation(means[:-1], means[1:]), len(means)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--tracks", type=int, default=5)
    parser.add_argument("--rho", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-series", default="")
    parser.add_argument("--spacing-s", type=float, default=25.0)
    parser.add_argument(
        "--budget",
        choices=("wall", "tokens"),
        default="wall",
        help="tokens: a TOKENS track budget, where load no longer changes val_bpb",
    )
    args = parser.parse_args()
    if args.probe_series:
        rho, sd, n = lag_correlation(args.probe_series, args.spacing_s)
        window_rho, windows = window_correlation(args.probe_series, args.spacing_s)
        print(
            f"probe series: {n} samples, sd(log speed) = {sd:.3f}, snapshot corr at "
            f"{args.spacing_s:g} s = {rho:.2f}, corr of consecutive {args.spacing_s:g} s "
            f"window means = {window_rho:.2f} ({windows} windows)"
        )
    noise = make_noise(args)
    sd_pair = math.sqrt(2 * noise.beta**2 * (1 - args.rho) + 2 * noise.sigma_seed**2)
    print(
        f"budget {args.budget}; gains in units of sigma_total {SIGMA_TOTAL} "
        f"(load part {noise.beta:.3f}, seed part {noise.sigma_seed:.3f}), "
        f"rho {args.rho}, paired-difference sd {sd_pair:.3f}; "
        f"{args.tracks} tracks x {args.edits} edits per row"
    )
    header = (
        f"{'gain':>6} {'rule':>7} {'false KEEP':>11} {'detected':>9} {'FDP':>6} "
        f"{'runs/edit':>9} {'CONFOUNDED':>10}"
    )
    print(header)
    for gain in (None, 0.5, 1.0, 2.0):
        tallies = simulate(args, gain)
        for name, t in tallies.items():
            detected = f"{t.true_keeps / t.real:.3f}" if t.real else "-"
            fdp = statistics.fmean(t.fdp) if t.fdp else 0.0
            confounded = f"{t.confounded / t.edits:.3f}" if name == "v2" else "-"
            print(
                f"{'null' if gain is None else f'{gain:g}σ':>6} {name:>7} "
                f"{t.false_keeps / max(1, t.null):>11.4f} {detected:>9} {fdp:>6.3f} "
                f"{t.runs / t.edits:>9.2f} {confounded:>10}"
            )


if __name__ == "__main__":
    main()
