"""Training tokens/s of the baseline train.py next to a plain GPT of the same size.

Both on the CPU, eager, same shapes and data, in one process, interleaved rounds so
that load on a shared machine hits both alike; then every step again, alternating one by
one, whose fastest times give a ratio less moved by bursts of load. Each is timed the
way it trains: the reference materialises the logits and calls F.cross_entropy, with torch.optim.AdamW;
the baseline calls model(x, targets) as its train() does (on CPU a chunked head + loss)
and steps its own Muon+AdamW. The window pattern is the baseline's CPU default.
Both run under the malloc settings the runner gives its children (the script re-executes
itself with them; --system-malloc keeps the defaults, to see what they are worth).

    python bench/train_throughput.py [--steps 20] [--threads 2] [--vocab 4096] [--seq 256]
                                     [--train-file PATH]  (default: the CPU track's baseline)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_gpt import ReferenceGPT  # noqa: E402

from trainer.baseline import baseline_source  # noqa: E402
from trainer.runner.sandbox import ALLOCATOR_ENV  # noqa: E402


def load_baseline(train_file: str | None):
    source = Path(train_file).read_text() if train_file else baseline_source("cpu")
    module = sys.modules["train"] = type(sys)("train")  # as the runner's child names it
    exec(compile(source, train_file or "train.py", "exec", dont_inherit=True), module.__dict__)
    return module


def reference_loss(model, x, y):
    return F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())


def baseline_loss(model, x, y):
    return model(x, y)  # what the baseline's train() does


def time_steps(model, optimizer, batches, loss_fn) -> float:
    t0 = time.perf_counter()
    for x, y in batches:
        loss = loss_fn(model, x, y)
        loss.backward()
        optimizer.step()
        model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10, help="steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--system-malloc", action="store_true", help="glibc's default malloc")
    parser.add_argument("--train-file", help="another train.py to time (e.g. an older baseline)")
    args = parser.parse_args()
    tuned = all(os.environ.get(k) == v for k, v in ALLOCATOR_ENV.items())
    if not tuned and not args.system_malloc:  # malloc reads its settings at process start
        os.execve(sys.executable, [sys.executable, *sys.argv], os.environ | ALLOCATOR_ENV)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = load_baseline(args.train_file)  # its CPU defaults: the constants at its top
    n_embd = train.DEPTH * train.ASPECT_RATIO
    n_head = n_embd // train.HEAD_DIM
    rows = train.DEVICE_BATCH_SIZE
    config = dict(
        vocab_size=args.vocab,
        seq_len=args.seq,
        n_layer=train.DEPTH,
        n_head=n_head,
        n_embd=n_embd,
        window_pattern=train.WINDOW_PATTERN,
        short_window=int(args.seq * train.SHORT_WINDOW_FRACTION),
        logit_cap=train.LOGIT_CAP,
    )
    baseline = train.build_model(config)
    baseline_opt = train.build_optimizer(baseline)
    reference = ReferenceGPT(args.vocab, args.seq, train.DEPTH, n_head, n_embd)
    reference_opt = torch.optim.AdamW(reference.parameters(), lr=1e-3, foreach=False)
    data = torch.randint(0, args.vocab, (args.steps, rows, args.seq + 1))
    batches = [(d[:, :-1], d[:, 1:]) for d in data]
    time_steps(baseline, baseline_opt, batches[:2], baseline_loss)  # warm-up
    time_steps(reference, reference_opt, batches[:2], reference_loss)
    totals = {"baseline": 0.0, "reference": 0.0}
    steps: dict[str, list[float]] = {"baseline": [], "reference": []}
    for _ in range(args.rounds):
        totals["baseline"] += time_steps(baseline, baseline_opt, batches, baseline_loss)
        totals["reference"] += time_steps(reference, reference_opt, batches, reference_loss)
        # then step by step, alternating: a burst of load on a shared machine hits both
        for x, y in batches:
            steps["baseline"].append(time_steps(baseline, baseline_opt, [(x, y)], baseline_loss))
            steps["reference"].append(
                time_steps(reference, reference_opt, [(x, y)], reference_loss)
            )
    tokens = args.rounds * args.steps * rows * args.seq
    n_params = {
        "baseline": sum(p.numel() for p in baseline.parameters()),
        "reference": sum(p.numel() for p in reference.parameters()),
    }
    print(
        f"shape: depth {train.DEPTH}, width {n_embd}, heads {n_head}, vocab {args.vocab}, "
        f"window pattern {train.WINDOW_PATTERN!r}, batch {rows} x {args.seq}, "
        f"threads {args.threads}, malloc {'runner settings' if tuned else 'system default'}"
    )
    for name, seconds in totals.items():
        print(f"{name:9s}: {tokens / seconds:9.0f} tokens/s  ({n_params[name] / 1e6:.2f}M params)")
    print(f"ratio baseline/reference: {totals['reference'] / totals['baseline']:.2f}x")
    fastest = {name: min(times) for name, times in steps.items()}
    print(
        f"ratio of the fastest interleaved steps: {fastest['reference'] / fastest['baseline']:.2f}x "
        "(less moved by bursts of load than the total)"
    )


if __name__ == "__main__":
    main()
