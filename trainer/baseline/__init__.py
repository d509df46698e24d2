"""The baseline training file that every track starts from (SPEC §3), per device class.

`train.py` here is the CPU track's file, runnable as it is. A GPU track gets the same
file with GPU sizes in place of the CPU values and without the last section (fast CPU
kernels that a GPU never runs), so each knob an agent reads is the one that acts.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

BASELINE_PATH = Path(__file__).with_name("train.py")
CPU_KERNELS_BANNER = "# --- CPU kernels"

# A GPU track's values of train.py's knobs: close to depth 8 / seq 2048 / vocab 8192.
GPU_KNOBS: dict[str, object] = {
    "DEPTH": 8,
    "ASPECT_RATIO": 64,
    "HEAD_DIM": 128,
    "WINDOW_PATTERN": "SSSL",
    "TOTAL_BATCH_SIZE": 2**19,
    "DEVICE_BATCH_SIZE": 128,
    "COMPILE": True,
}

_CPU_CLASS = re.compile(r"cpu([-_.:]|$)")


def is_cpu_class(device_class: str) -> bool:
    """ "cpu" (or "cpu-..."): every other device class is a GPU queue ("cuda", "h100", ...)."""
    return bool(_CPU_CLASS.match(device_class))


def baseline_source(device_class: str = "cpu") -> str:
    """The baseline train.py, exactly as agents on a track of this device class receive it."""
    source = BASELINE_PATH.read_text(encoding="utf-8")
    if is_cpu_class(device_class):
        return source
    return set_knobs(source[: source.index(CPU_KERNELS_BANNER)].rstrip() + "\n", GPU_KNOBS)


def set_knobs(source: str, values: dict[str, object]) -> str:
    """source with the value of each module-level `NAME = value` in `values` replaced.

    Raises ValueError unless each name is assigned exactly once, on one line, at the top
    level: the knob an agent edits must be the one that acts.
    """
    found: dict[str, list[ast.expr]] = {name: [] for name in values}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in found and node.value:
                    found[target.id].append(node.value)
    lines = source.splitlines(keepends=True)
    for name, nodes in found.items():
        if len(nodes) != 1 or nodes[0].lineno != nodes[0].end_lineno:
            raise ValueError(f"{name} must be assigned once, on one line, at the top level")
        value = nodes[0]
        line = lines[value.lineno - 1].encode()  # ast offsets count UTF-8 bytes
        new = (
            line[: value.col_offset]
            + _literal(values[name]).encode()
            + line[value.end_col_offset :]
        )
        lines[value.lineno - 1] = new.decode()
    return "".join(lines)


def _literal(value: object) -> str:
    """Python source for a knob's value; a large power of two reads as 2**k."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1024:
        if value & (value - 1) == 0:
            return f"2**{value.bit_length() - 1}"
    text = repr(value)
    return f'"{value}"' if isinstance(value, str) and '"' not in value else text
