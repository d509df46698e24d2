"""What the sandbox itself costs, measured so that a busy machine blurs it less.

Alternates a sealed child (bubblewrap) and an unsealed one (the unsafe mode's plain
subprocess), same argv otherwise, and reports medians of:

- start: spawn -> exit of `python -I -S -c pass` (bwrap's namespaces, mounts, seccomp);
- compute: CPU seconds (not wall: other processes do not count) the child spends on a
  fixed torch workload shaped like evaluation (matmuls and a softmax over a vocabulary);
- copy_out: the trusted copy of a 64 MB checkpoint out of the child's scratch.

    python bench/sandbox_overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.runner.sandbox import (  # noqa: E402
    NONE,
    SCRATCH,
    Limits,
    Mounts,
    Sandboxed,
    SandboxSettings,
)

WORKLOAD = """
import time, torch
torch.set_num_threads(1)
x = torch.randn(64, 256, 128)
w = torch.randn(128, 4096)
t = time.process_time()
for _ in range(20):
    torch.log_softmax(x @ w, -1)
print("CPU", time.process_time() - t)
"""

CHECKPOINT = "open('checkpoint.pt', 'wb').write(b'x' * (64 << 20))"


class Module:
    """A ChildCommand whose 'module' is inline code (the bootstrap stays the same)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def argv(self, view=lambda p: p, preamble: str = "") -> list[str]:
        return [sys.executable, "-I", "-c", preamble + self.code]


def spawn(mode: str, code: str, root: Path) -> tuple[Sandboxed, float]:
    job = Path(tempfile.mkdtemp(dir=root))
    limits = Limits(None, False, 512, 2048, 1024, 1 << 20)
    started = time.monotonic()
    child = Sandboxed(
        Module(code),  # type: ignore[arg-type]
        env_for=lambda view: {"PATH": "/usr/bin:/bin", "HOME": view(SCRATCH)},
        limits=limits,
        log_path=job.with_suffix(".log"),
        mounts=Mounts(job),
        settings=SandboxSettings(mode=mode),
    )
    return child, started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="loopy-sandbox-bench-"))
    results: dict[str, dict[str, list[float]]] = {
        m: {"start": [], "compute": [], "copy_out": []} for m in ("bubblewrap", NONE)
    }
    for _ in range(args.repeats):
        for mode in ("bubblewrap", NONE):
            child, t0 = spawn(mode, "pass", root)
            child.wait()
            results[mode]["start"].append(time.monotonic() - t0)
            child.finish()
            child.release()

            child, _ = spawn(mode, WORKLOAD, root)
            child.wait()
            child.finish()
            cpu = [float(x.split()[1]) for x in child.tail().splitlines() if x.startswith("CPU")]
            results[mode]["compute"].append(cpu[0] if cpu else float("nan"))
            child.release()

            child, _ = spawn(mode, CHECKPOINT, root)
            child.wait()
            child.finish()
            t0 = time.monotonic()
            child.copy_out("checkpoint.pt", root / "copy.pt", 128 << 20)
            results[mode]["copy_out"].append(time.monotonic() - t0)
            child.release()
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average: {' '.join(load)}; repeats: {args.repeats}; medians")
    print(f"{'':10} {'bubblewrap':>11} {'none':>8} {'ratio':>6}")
    for key in ("start", "compute", "copy_out"):
        sealed = statistics.median(results["bubblewrap"][key])
        plain = statistics.median(results[NONE][key])
        print(f"{key:10} {sealed:10.3f}s {plain:7.3f}s {sealed / plain:6.2f}")
    subprocess.run(["rm", "-rf", str(root)], check=False)


if __name__ == "__main__":
    main()
