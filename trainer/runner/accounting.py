"""Figures the supervisor measures itself, never taking a training child's word for them.

- parameters: counted from the tensors of the saved checkpoint, loaded here with
  torch's safe loader (`weights_only=True`, memory-mapped, size-bounded);
- peak memory: on CPU the high-water mark (VmHWM) of the child's processes, sampled
  from /proc; on CUDA the memory nvidia-smi sees the child's processes use;
- device name: "cpu", or the assigned GPU's name as nvidia-smi gives it;
- MFU: 6 x parameters x tokens trained / training seconds / the device's peak.
Where a figure cannot be measured (no nvidia-smi, /proc not readable) it says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

from trainer.runner.proctree import descendants

# Dense bf16 tensor-core peak per GPU, by a substring of the device name.
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "4090": 165e12,
    "3090": 71e12,
}
UNKNOWN_GPU = "unknown CUDA device"
NVIDIA_SMI_TIMEOUT_S = 10.0


class CheckpointUnreadable(ValueError):
    pass


def peak_flops_for(device_name: str) -> float | None:
    for key, flops in PEAK_BF16_FLOPS.items():
        if key in device_name:
            return flops
    return None


def count_checkpoint_params(path: Path, max_bytes: int) -> int:
    """Elements in the checkpoint's tensors (a tensor stored twice, e.g. tied weights,
    counts once). CheckpointUnreadable when it is not a regular file of at most
    `max_bytes` holding a flat {name: tensor} state dict."""
    import torch

    try:
        info = os.lstat(path)
    except OSError as exc:
        raise CheckpointUnreadable(f"no checkpoint: {exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointUnreadable(f"{path.name} is not a regular file")
    if info.st_size > max_bytes:
        raise CheckpointUnreadable(f"{path.name} is {info.st_size} bytes, over {max_bytes}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # anything the safe loader refuses
        raise CheckpointUnreadable(f"{path.name} cannot be loaded safely: {exc}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointUnreadable(f"{path.name} is not a {{name: tensor}} state dict")
    elements: dict[int, int] = {}  # per storage: the elements its tensors reach
    for tensor in state.values():
        if tensor.numel() == 0:
            continue
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        reach = storage.nbytes() // tensor.element_size()
        elements[key] = max(elements.get(key, 0), reach)
    return sum(elements.values())


def mfu_percent(params: int, tokens: int, seconds: float, device_name: str) -> float | None:
    peak = peak_flops_for(device_name)
    if peak is None or seconds <= 0 or params <= 0 or tokens <= 0:
        return None
    return 100.0 * 6.0 * params * tokens / seconds / peak


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def gpu_index(device: str) -> str:
    """The nvidia-smi index of the GPU a `cuda[:N]` run uses (as the sandbox picks it)."""
    from trainer.runner.sandbox import visible_device

    return visible_device(device)


def nvidia_smi(*args: str) -> list[str] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, *args, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.strip() for line in out.splitlines() if line.strip()]


def device_name_of(device: str) -> str:
    if not device.startswith("cuda"):
        return "cpu"
    lines = nvidia_smi("--query-gpu=name", "-i", gpu_index(device))
    return lines[0][:200] if lines else UNKNOWN_GPU


class MemoryWatch:
    """Samples the peak memory of a child's process tree from the supervisor's side."""

    def __init__(self, root_pid: int, device: str) -> None:
        self.root = root_pid
        self.cuda = device.startswith("cuda")
        self.index = gpu_index(device) if self.cuda else ""
        self.peak_mb = 0.0
        self.samples = 0
        self.source = "nvidia-smi per-process memory" if self.cuda else "/proc VmHWM"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, interval_s: float) -> None:
        def loop() -> None:
            while True:
                self.sample()
                if self._stop.wait(interval_s):
                    return

        self._thread = threading.Thread(target=loop, daemon=True, name="loopy-memory")
        self._thread.start()

    def sample(self) -> None:
        with contextlib.suppress(Exception):  # a vanished process is not an error
            pids = [self.root, *descendants(self.root)]
            if self.cuda:
                used = self._gpu_used_mb(set(pids))
                if used is None:
                    return
                mb = used
            else:
                mb = sum(_high_water_kb(pid) for pid in pids) / 1024
            self.samples += 1
            self.peak_mb = max(self.peak_mb, mb)

    def _gpu_used_mb(self, pids: set[int]) -> float | None:
        lines = nvidia_smi("--query-compute-apps=pid,used_memory", "-i", self.index)
        if lines is None:
            return None
        used = 0.0
        for line in lines:
            pid, _, mb = line.partition(",")
            with contextlib.suppress(ValueError):
                if int(pid) in pids:
                    used += float(mb)
        return used

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=NVIDIA_SMI_TIMEOUT_S + 1)

    @property
    def measured(self) -> bool:
        return self.samples > 0
