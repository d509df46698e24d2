"""Packer speed: the vectorised best-fit packer next to the pure-Python reference.

Both pack the same documents in the same seeded order with the same rule into int64 arrays
[batch, seq_len + 1]; the bench checks the rows are identical, then prints the tokens/s of
each and the ratio (goal: >= 10x).

    python bench/packer_bench.py                       # synthetic documents
    python bench/packer_bench.py --harness /tmp/demo   # a harness's training documents
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reference_packer import ReferencePacker  # noqa: E402

from trainer.data.harness import Harness  # noqa: E402
from trainer.data.loader import open_train_shards  # noqa: E402
from trainer.data.packing import BestFitPacker, TokenShards  # noqa: E402


def synthetic_shards(n_docs: int, seed: int) -> TokenShards:
    """Web-like document lengths (log-normal, median ~400 tokens), BOS = 0 first."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(mean=6.0, sigma=1.0, size=n_docs), 2, 20000).astype(np.int64)
    tokens = rng.integers(1, 8192, size=int(lengths.sum()), dtype=np.uint16)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens[offsets[:-1]] = 0
    return TokenShards([(tokens, offsets)])


def epochs(n_docs: int, seed: int) -> Iterator[np.ndarray]:
    epoch = 0
    while True:
        yield np.random.default_rng([seed, epoch]).permutation(n_docs)
        epoch += 1


def flat_ids(chunks: Iterator[np.ndarray]) -> Iterator[int]:
    for chunk in chunks:
        yield from chunk.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--harness", help="use this harness's training documents")
    parser.add_argument("--docs", type=int, default=20_000, help="synthetic documents")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--buffer-size", type=int, default=1000)
    parser.add_argument(
        "--batches", type=int, default=20, help="reference batches timed (x10 fast)"
    )
    parser.add_argument("--check-batches", type=int, default=5, help="batches compared")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.harness:
        store = open_train_shards(Harness.load(args.harness))
        source = f"harness {args.harness}"
    else:
        store = synthetic_shards(args.docs, args.seed)
        source = f"{args.docs:,} synthetic documents"
    row_len = args.seq_len + 1
    docs = [
        np.asarray(store.tokens[shard][start : start + length]).tolist()
        for shard, start, length in zip(
            store.doc_shard.tolist(),
            store.doc_starts.tolist(),
            store.doc_lengths.tolist(),
            strict=True,
        )
    ]

    def packers() -> tuple[BestFitPacker, ReferencePacker]:
        order = epochs(store.num_docs, args.seed)
        return (
            BestFitPacker(store.doc_lengths, order, row_len, args.buffer_size),
            ReferencePacker(
                docs, flat_ids(epochs(store.num_docs, args.seed)), row_len, args.buffer_size
            ),
        )

    def fast_batch(packer: BestFitPacker) -> np.ndarray:
        return store.gather(packer.plan(args.batch_size), row_len)

    def reference_batch(packer: ReferencePacker) -> np.ndarray:
        return np.array(packer.next_rows(args.batch_size), dtype=np.int64)

    # Same rule, same rows: checked before anything is timed.
    fast, reference = packers()
    for _ in range(args.check_batches):
        if not np.array_equal(fast_batch(fast), reference_batch(reference)):
            raise SystemExit("the packers disagree: the vectorised packer does not follow the rule")

    # Timed after one warm-up batch each (buffer filled, first permutation drawn).
    fast, reference = packers()
    fast_batch(fast)
    reference_batch(reference)
    start = time.perf_counter()
    for _ in range(args.batches * 10):
        fast_batch(fast)
    fast_tps = args.batches * 10 * args.batch_size * args.seq_len / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(args.batches):
        reference_batch(reference)
    reference_tps = args.batches * args.batch_size * args.seq_len / (time.perf_counter() - start)

    mean_len = float(store.doc_lengths.mean())
    print(f"source: {source}, mean document {mean_len:.0f} tokens")
    print(
        f"batches [{args.batch_size}, {row_len}], buffer {args.buffer_size} documents; "
        f"first {args.check_batches} batches identical: yes"
    )
    print(f"reference (pure Python): {reference_tps:14,.0f} tokens/s ({args.batches} batches)")
    print(f"vectorised (numpy)     : {fast_tps:14,.0f} tokens/s ({args.batches * 10} batches)")
    print(f"speed ratio            : {fast_tps / reference_tps:.1f}x")


if __name__ == "__main__":
    main()
