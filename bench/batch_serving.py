"""Cost, to the training loop, of a training batch served by the supervisor (sealed memfd ring + a request and
answer on the channel) next to the same TrainLoader read in process, as the child did
before. Interleaved rounds in one process (the server on a thread, as in the runner),
so that load on a shared machine hits both alike.

    python bench/batch_serving.py [--harness DIR] [--batch 8] [--seq 256] [--batches 500]
        [--compute-ms 0]  (time spent in the loop between batches, e.g. a training step)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.data.loader import TrainLoader  # noqa: E402
from trainer.runner.batches import BatchServer, BatchStream, TrainingClock  # noqa: E402
from trainer.runner.channel import Channel, ChannelClosed  # noqa: E402
from trainer.runner.messages import NextBatch, OpenBatches, decode_train_message  # noqa: E402


def serve(server: BatchServer, channel: Channel) -> None:
    while True:
        try:
            message = decode_train_message(channel.recv_frame())
        except (ChannelClosed, OSError):
            return
        if isinstance(message, OpenBatches):
            server.open(message, channel)
        elif isinstance(message, NextBatch):
            server.next(message, channel)


def timed(batches, n: int, compute_s: float) -> float:
    """Mean seconds inside next() over n batches, with `compute_s` of work between them
    (time.sleep: the GIL is free, as in a torch step)."""
    spent = 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        next(batches)
        spent += time.perf_counter() - t0
        if compute_s:
            time.sleep(compute_s)
    return spent / n


def served(harness: str, batch: int, seq: int, n: int, compute_s: float) -> float:
    ours, theirs = Channel.pair()
    clock = TrainingClock(time.monotonic(), 0.0, 1e9)  # the clock runs from the start
    server = BatchServer(harness, 0, clock)
    thread = threading.Thread(target=serve, args=(server, ours), daemon=True)
    thread.start()
    stream = BatchStream(Channel(theirs), batch, seq, "cpu", lambda *_: None)
    next(stream)
    per_batch = timed(stream, n, compute_s)
    theirs.close()
    thread.join()
    ours.close()
    server.close()
    return per_batch


def in_process(harness: str, batch: int, seq: int, n: int, compute_s: float) -> float:
    loader = TrainLoader(harness, batch, seq)
    next(loader)
    return timed(loader, n, compute_s)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--harness", help="harness dir (default: build the demo harness)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--compute-ms", type=float, default=0.0, help="work between batches (a training step)"
    )
    args = parser.parse_args()
    harness = args.harness
    if harness is None:
        from trainer.data.demo import build_demo_harness

        harness = str(Path(tempfile.mkdtemp(prefix="loopy-batches-")) / "demo")
        build_demo_harness(harness)
    times: dict[str, list[float]] = {"in process": [], "served": []}
    compute_s = args.compute_ms / 1000
    for _ in range(args.rounds):
        for name, fn in (("in process", in_process), ("served", served)):
            times[name].append(fn(harness, args.batch, args.seq, args.batches, compute_s))
    tokens = args.batch * args.seq
    for name, values in times.items():
        per = statistics.median(values)
        print(f"{name:>10}: {per * 1e6:8.0f} us in next() per batch ({tokens / per:.0f} tokens/s)")
    ratio = statistics.median(times["served"]) / statistics.median(times["in process"])
    print(f"served / in process: {ratio:.2f}x per batch ({args.batch} x {args.seq} tokens)")


if __name__ == "__main__":
    main()
