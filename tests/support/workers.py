"""`loopy worker` processes as the worker and fault tests start them, and the JSON
events they log (one file per worker: `worker-<name>.log` in the stack's folder)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def start_worker(
    log_dir: Path, name: str, queue: str, env: dict[str, str]
) -> subprocess.Popen[Any]:
    """`loopy worker --device cpu --queue <queue>` in its own session (so a test can
    kill the whole tree), appending its output to `<log_dir>/worker-<name>.log`."""
    with open(log_dir / f"worker-{name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker", "--device", "cpu", "--queue", queue],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def worker_events(log_dir: Path, event: str) -> list[dict[str, Any]]:
    """Every `event` the workers logged under `log_dir`, oldest log file first."""
    found = []
    for path in sorted(log_dir.glob("worker-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == event:
                    found.append(record)
    return found
