"""Training tokens/s of the baseline train.py next to a plain GPT of the same size.

Both on the CPU, eager, same shapes and data, in one process, interleaved rounds so
that load on a shared machine hits both alike. The reference uses torch.optim.AdamW;
the baseline uses its own Muon+AdamW.

    python bench/train_throughput.py [--steps 20] [--threads 2] [--vocab 4096] [--seq 256]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_gpt import ReferenceGPT  # noqa: E402

from trainer.baseline import BASELINE_PATH  # noqa: E402


def load_baseline():
    spec = importlib.util.spec_from_file_location("baseline_train", BASELINE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_steps(model, optimizer, batches, vocab: int) -> float:
    t0 = time.perf_counter()
    for x, y in batches:
        loss = F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = load_baseline()  # CPU defaults: the constants at the top of train.py
    n_embd = train.DEPTH * train.ASPECT_RATIO
    n_head = n_embd // train.HEAD_DIM
    rows = train.DEVICE_BATCH_SIZE
    config = dict(
        vocab_size=args.vocab,
        seq_len=args.seq,
        n_layer=train.DEPTH,
        n_head=n_head,
        n_embd=n_embd,
        short_window=int(args.seq * train.SHORT_WINDOW_FRACTION),
    )
    baseline = train.build_model(config)
    baseline_opt = train.build_optimizer(baseline)
    reference = ReferenceGPT(args.vocab, args.seq, train.DEPTH, n_head, n_embd)
    reference_opt = torch.optim.AdamW(reference.parameters(), lr=1e-3, foreach=False)
    data = torch.randint(0, args.vocab, (args.steps, rows, args.seq + 1))
    batches = [(d[:, :-1], d[:, 1:]) for d in data]
    time_steps(baseline, baseline_opt, batches[:2], args.vocab)  # warm-up
    time_steps(reference, reference_opt, batches[:2], args.vocab)
    totals = {"baseline": 0.0, "reference": 0.0}
    for _ in range(args.rounds):
        totals["baseline"] += time_steps(baseline, baseline_opt, batches, args.vocab)
        totals["reference"] += time_steps(reference, reference_opt, batches, args.vocab)
    tokens = args.rounds * args.steps * rows * args.seq
    n_params = {
        "baseline": sum(p.numel() for p in baseline.parameters()),
        "reference": sum(p.numel() for p in reference.parameters()),
    }
    print(
        f"shape: depth {train.DEPTH}, width {n_embd}, heads {n_head}, vocab {args.vocab}, "
        f"batch {rows} x {args.seq}, threads {args.threads}"
    )
    for name, seconds in totals.items():
        print(f"{name:9s}: {tokens / seconds:9.0f} tokens/s  ({n_params[name] / 1e6:.2f}M params)")
    print(f"ratio baseline/reference: {totals['reference'] / totals['baseline']:.2f}x")


if __name__ == "__main__":
    main()
