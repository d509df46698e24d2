"""`loopy worker` (`loopy up` is in service/commands.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="consume runs from a device-class queue and train them on one device",
        description=(
            "Start a worker bound to one device. It takes runs from the queue of its "
            "device class (cpu or cuda by default), one at a time, and trains each in a "
            "fresh sandboxed child. Stores and broker come from LOOPY_* variables."
        ),
    )
    worker.add_argument("--device", default="cpu", help="cpu or cuda:N (default: cpu)")
    worker.add_argument(
        "--queue", default=None, help="queue to consume (default: the device class, cpu or cuda)"
    )
    worker.add_argument(
        "--concurrency", type=int, default=1, help="runs at once on this device (default: 1)"
    )
    worker.add_argument("--data-dir", default=None, help="override LOOPY_DATA_DIR")
    worker.set_defaults(func=_worker)


def _configure_logging(settings: Any) -> None:
    from service.log import configure_logging

    configure_logging(settings)


def _worker(args: argparse.Namespace) -> int:
    from service.settings import load_settings
    from service.worker.process import WorkerProcess

    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    try:
        settings = load_settings(**overrides)
    except ValueError as exc:  # a LOOPY_* value that does not fit: say which
        print(f"loopy worker: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    try:
        process = _start_when_stores_answer(
            lambda: WorkerProcess(
                settings, device=args.device, queue=args.queue, concurrency=args.concurrency
            )
        )
    except ValueError as exc:
        print(f"loopy worker: {exc}", file=sys.stderr)
        return 2
    process.run()
    return 0


def _start_when_stores_answer(make: Any) -> Any:
    """A worker (re)started during an outage waits for the stores instead of dying:
    its spool may hold results that only it can deliver (SIGTERM still stops it)."""
    import time

    import structlog

    from service.worker.spool import is_infrastructure_error

    log = structlog.get_logger("loopy.worker")
    attempt = 0
    while True:
        try:
            return make()
        except Exception as exc:
            if not is_infrastructure_error(exc):
                raise
            wait_s = min(5.0, 0.5 * 2**attempt)
            attempt += 1
            log.warning("worker.waiting_for_stores", error=str(exc)[:200], wait_s=wait_s)
            time.sleep(wait_s)
