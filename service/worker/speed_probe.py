"""The machine-speed probe: a fixed small benchmark the worker times just before
each run trains (SPEC §5, decisions v2).

It runs in the trusted worker process, never in the agent's child, so agent code
cannot touch the figure. The work is fixed (the same matrix products every time),
so the rate measures the machine at that moment: a busy CPU or a throttled GPU
shows up as a lower rate. Evaluations compare the two sides' rates and say
CONFOUNDED when they differ more than the probe's noise allows.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

# 5 blocks x 16 products of 128x128 float32 matrices on one thread: ~0.34 GFLOP, a few
# ms on an idle core, ~0.1 s when six processes share it; ~1 ms on a GPU. One thread,
# so the figure is a core's share of the machine (what a busy host takes away), not
# how many idle cores a BLAS could grab. The median block resists one-off hiccups.
SIZE = 128
PRODUCTS_PER_BLOCK = 16
BLOCKS = 5
FLOP_PER_BLOCK = 2.0 * SIZE**3 * PRODUCTS_PER_BLOCK


def measure_speed(device: str = "cpu") -> float | None:
    """GFLOP/s of the fixed benchmark on `device` (higher = faster); None on failure."""
    import torch  # here, not at the top: importing torch takes seconds

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # restored below: the worker's own setting is untouched
        dev = torch.device(device)
        gen = torch.Generator(device="cpu").manual_seed(0)
        a = torch.randn(SIZE, SIZE, generator=gen).to(dev)
        b = torch.randn(SIZE, SIZE, generator=gen).to(dev)
        sync = _sync(dev)
        a @ b  # warm the kernels
        sync()
        rates = []
        for _ in range(BLOCKS):
            started = time.perf_counter()
            c = a
            for _ in range(PRODUCTS_PER_BLOCK):
                c = torch.tanh(c @ b)  # tanh keeps values bounded; its cost is negligible
            sync()
            elapsed = time.perf_counter() - started
            rates.append(FLOP_PER_BLOCK / max(elapsed, 1e-9) / 1e9)
        return float(statistics.median(rates))
    except Exception:  # a probe must never fail a run
        return None
    finally:
        torch.set_num_threads(threads)


def _sync(dev: Any) -> Any:
    import torch

    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None
