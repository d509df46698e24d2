"""Child process trees: started to die with their parent, stopped with nothing left over.

Used by `loopy up` (service/up.py) for the API and the worker it runs, and by the
tests and benchmarks that start those processes themselves.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from typing import Any

from trainer.runner.proctree import descendants

STOP_GRACE_S = 15.0


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM if its parent (e.g. `loopy up`) dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().decode(errors="replace").rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def stop_process_tree(proc: subprocess.Popen[Any], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the child (its own warm shutdown stops its children), then SIGKILL
    whatever of the tree is still there after `grace_s`."""
    if proc.poll() is not None:
        return
    tree = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
    for pid in tree + descendants(proc.pid):
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
