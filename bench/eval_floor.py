"""The honest disagreement floor between two evaluation children, per device class.

Loads a baseline checkpoint into the two sealed evaluation children, then scores it
under several audit draws (orders, compositions, splices, roles) with the check's
tolerance set to infinity, and reports the largest per-position cross-entropy
disagreement seen (the floor), the noise level, and the tolerance that
trainer.runner.evaluation.TOLERANCES would give. Put the floor there for the device.

    python bench/eval_floor.py --run-dir RUN [--device cpu|cuda] [--draws 8]
    python bench/eval_floor.py               # trains the baseline on the demo harness first

RUN is a finished runner out_dir (train.py, checkpoint.pt, checkpoint.json).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.baseline import baseline_source  # noqa: E402
from trainer.data.harness import Harness  # noqa: E402
from trainer.runner import RunConfig, run  # noqa: E402
from trainer.runner.audit import tolerance_for  # noqa: E402
from trainer.runner.deadlines import Allowance, Clock  # noqa: E402
from trainer.runner.evaluation import Evaluator, rows_per_batch  # noqa: E402
from trainer.runner.supervisor import _Run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", help="a finished run's out_dir (default: train one)")
    parser.add_argument("--harness", help="harness dir (default: the demo harness)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--budget", type=float, default=20.0, help="if training first")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loopy-floor-"))
    harness_dir = args.harness
    if harness_dir is None:
        from trainer.data.demo import build_demo_harness

        harness_dir = str(work / "demo-harness")
        build_demo_harness(harness_dir)
    source_dir = Path(args.run_dir) if args.run_dir else None
    if source_dir is None:
        trained = run(
            RunConfig(
                harness_dir=harness_dir,
                train_source=baseline_source(),
                budget_s=args.budget,
                out_dir=str(work / "trained"),
                device=args.device,
            )
        )
        print(f"trained the baseline: {trained.state} val_bpb {trained.val_bpb}")
        source_dir = work / "trained"
    out = work / "floor"
    out.mkdir()
    for name in ("checkpoint.pt", "checkpoint.json"):  # the trusted copies a run leaves
        shutil.copyfile(source_dir / name, out / name)
    config = RunConfig(
        harness_dir=harness_dir,
        train_source=(source_dir / "train.py").read_text(),
        budget_s=1.0,
        out_dir=str(out),
        device=args.device,
    )
    harness = Harness.load(harness_dir)
    cuda = args.device.startswith("cuda")
    rows = rows_per_batch(
        harness.val_rows, harness.seq_len, harness.vocab_size, 512 if cuda else 16
    )
    runner = _Run(config, None, None, threading.Event()).scoring
    runner.start_eval_child()
    clock = Clock()
    generous = Allowance.derive(args.device, runner.threads, 10**9, 0, 10**9, 3600.0)
    links: list = []
    runner.load_eval_children(runner.eval_pairs(), rows, clock, generous, links)
    floor, sigma_sq, values, seconds = 0.0, 0.0, [], []
    try:
        for draw in range(args.draws):
            evaluator = Evaluator(
                harness.val_rows_array(),
                harness.token_bytes(),
                harness.vocab_size,
                harness.bos_token_id,
                rows,
                math.inf,
            )
            clock.start("scoring", 3600.0)
            t0 = time.monotonic()
            outcome = evaluator.run(links[0], links[1], clock)
            seconds.append(time.monotonic() - t0)
            audit = outcome.integrity["audit"]
            floor = max(floor, audit["worst"]["abs_diff"])
            sigma_sq = max(sigma_sq, audit["cut_gain"]["noise_sigma"] ** 2)
            values.append(outcome.val_bpb)
            print(
                f"draw {draw}: val_bpb {outcome.val_bpb:.9f}  max |d nll| {audit['worst']['abs_diff']:.3g}"
                f"  compared {audit['compared_positions']} positions in {audit['audited_rows']} rows"
                f" ({audit['spliced_rows']} spliced)  {seconds[-1]:.2f} s",
                flush=True,
            )
    finally:
        for link in links:
            link.buffers.close()
        runner.stop_eval_child()
    current = tolerance_for(args.device)
    print(f"device class {current.device_class}: floor (max |d nll|) {floor:.3g} nats")
    print(
        f"noise sigma (largest draw) {math.sqrt(sigma_sq):.3g}; val_bpb spread {max(values) - min(values):.3g}"
    )
    print(
        f"tolerance = {current.margin:g} x max(floor, resolution {current.resolution:.3g}) = "
        f"{current.margin * max(floor, current.resolution):.3g} (in use now: {current.tolerance:.3g})"
    )


if __name__ == "__main__":
    main()
