"""Overhead of one runner call: the baseline on the demo harness at a 60 s CPU budget.

Reports start-up (child start -> first training step), evaluation (training end ->
val_bpb), and total minus training. Goal: under 5 s in all.

    python bench/runner_overhead.py [--budget 60] [--harness DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.baseline import baseline_source  # noqa: E402
from trainer.runner import RunConfig, prewarm, run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--harness", help="harness dir (default: build the demo harness)")
    parser.add_argument("--out", help="output dir (default: a temporary one)")
    parser.add_argument(
        "--prewarm",
        action="store_true",
        help="start the children before the run (as a worker does between runs)",
    )
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="loopy-overhead-"))
    harness = args.harness
    if harness is None:
        from trainer.data.demo import build_demo_harness

        harness = str(out / "demo-harness")
        if not (Path(harness) / "manifest.json").exists():
            build_demo_harness(harness)
    config = RunConfig(
        harness_dir=harness,
        train_source=baseline_source(),
        budget_s=args.budget,
        out_dir=str(out / "run"),
    )
    warm = None
    if args.prewarm:
        warm = prewarm(config, out)
        warm.wait_ready(60)
    result = run(config, warm=warm)
    other = (
        result.total_seconds
        - result.startup_seconds
        - result.training_seconds
        - result.eval_seconds
    )
    print(f"state:            {result.state} {result.failure_reason or ''}")
    print(f"val_bpb:          {result.val_bpb}")
    print(f"steps / tokens:   {result.num_steps} / {result.total_tokens}")
    print(f"training_seconds: {result.training_seconds:.2f}")
    print(f"startup_seconds:  {result.startup_seconds:.2f}")
    print(
        f"eval_seconds:     {result.eval_seconds:.2f}  ({result.integrity.get('scored_tokens')} tokens)"
    )
    timing = result.eval_timing
    if timing:
        print(
            "  evaluation split: "
            + ", ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in timing.items()
            )
        )
    print(f"other_seconds:    {other:.2f}")
    print(f"total - training: {result.total_seconds - result.training_seconds:.2f}")


if __name__ == "__main__":
    main()
