"""The scrubbed environment a child starts with."""

from __future__ import annotations

import os

# glibc malloc: keep freed memory up to 32 MB blocks in the heap instead of returning it to
# the kernel. Eager torch on CPU allocates a fresh activation tensor per op; by default every
# one over ~128 KB is a new mmap whose pages fault in on first touch, which made element-wise
# ops 3-4x slower than the arithmetic (measured in bench/train_throughput.py).
ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # the largest value glibc accepts
    "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
}


def scrubbed_env(home: str, device: str, threads: int, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": f"{home}/tmp",
        "LANG": "C.UTF-8",
        "USER": "loopy",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "CUDA_VISIBLE_DEVICES": visible_device(device),
        **ALLOCATOR_ENV,
    }
    if device.startswith("cuda"):
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # index N is the Nth GPU on the bus
    env.update(extra)
    return env


def visible_device(device: str) -> str:
    """CUDA_VISIBLE_DEVICES for a child that may use `device` (as its cuda:0), or none."""
    if not device.startswith("cuda"):
        return ""  # hide every GPU from CPU runs
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    ours = os.environ.get("CUDA_VISIBLE_DEVICES")
    if ours:  # the parent is itself restricted: index into its own list
        visible = [d for d in ours.split(",") if d.strip()]
        return visible[index] if index < len(visible) else str(index)
    return str(index)
