"""Device names as the runner and the worker accept them: "cpu", "cuda" or "cuda:N".

No torch here: the worker validates its --device before it imports the trainer.
"""

from __future__ import annotations


def validate_device(device: str) -> str:
    """The device in its canonical form ("cuda" is "cuda:0"); ValueError if it is none."""
    kind, colon, index = device.partition(":")
    if kind == "cpu" and not colon:
        return device
    if kind == "cuda" and (not colon or index.isdigit()):
        return device if colon else "cuda:0"
    raise ValueError(f"device must be cpu, cuda or cuda:N, not {device!r}")


def device_class_of(device: str) -> str:
    """A device's class, which is also the worker's default queue: "cpu" or "cuda"."""
    return device.split(":", 1)[0]


def is_cuda(device: str) -> bool:
    return device_class_of(device) == "cuda"
