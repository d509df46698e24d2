"""Process trees from a scan of /proc (processes, not threads; no psutil needed).

The one scan the sandbox (killing a child's whole tree), the memory sampler
(summing a run's tree) and `loopy up` (stopping the API and worker) all use.
"""

from __future__ import annotations

import os


def children_by_parent() -> dict[int, list[int]]:
    """Every live process's pid, grouped by its parent's pid."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    # Field 4 is the parent pid; the command name (field 2) may hold spaces.
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    return children


def children_of(pid: int) -> list[int]:
    return children_by_parent().get(pid, [])


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`."""
    children = children_by_parent()
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found
