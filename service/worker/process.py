"""One worker process: a Celery consumer bound to one device.

Everything slow is done here once per process, before the first message:
the stores are opened, torch and the trainer are imported, and harnesses stay
in the local cache between runs. Each run still gets a fresh sandboxed child
from the trainer's runner.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from celery import Celery, signals

from service.sandbox_check import sandbox_problem, sandbox_run_options
from service.settings import Settings
from service.worker.cache import HarnessCache
from service.worker.celery_app import (
    create_celery_app,
    embedded_broker_dir,
    is_embedded_broker,
    prune_processed,
)
from service.worker.dispatch import CeleryDispatcher
from service.worker.executor import RunExecutor
from service.worker.forwarding import heartbeat_interval_for
from service.worker.port import WorkerPort
from service.worker.reaper import Reaper, reap_interval_for
from service.worker.spool import Spool, SpoolDrainer
from service.worker.tasks import register_tasks
from trainer.runner.devices import device_class_of, validate_device

log = structlog.get_logger(__name__)


class WorkerProcess:
    """Wires the port, cache, spool, executor, reaper and the Celery task together."""

    def __init__(
        self,
        settings: Settings,
        *,
        device: str,
        queue: str | None = None,
        concurrency: int = 1,
        run_options: dict[str, Any] | None = None,
    ) -> None:
        from service.wiring import build_core

        self.settings = settings
        self.device = validate_device(device)
        self.queue = queue or device_class_of(self.device)
        self.concurrency = max(1, concurrency)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{self.device}"
        self.app: Celery = create_celery_app(settings)
        # the worker side reaches the domain only through its port
        self.port = WorkerPort(
            build_core(settings, dispatcher=CeleryDispatcher(settings, self.app))
        )
        cache_root = Path(settings.effective_worker_cache_dir)
        self.cache = HarnessCache(cache_root, self.port)
        self.spool = Spool(
            settings.effective_worker_spool_dir, self.port, settings.spool_retry_max_interval_s
        )
        self.executor = RunExecutor(
            self.port,
            self.cache,
            worker_id=self.worker_id,
            device=self.device,
            work_dir=cache_root / "work" / f"{os.getpid()}",
            heartbeat_interval_s=heartbeat_interval_for(settings.heartbeat_timeout_s),
            spool=self.spool,
            claim_retry_window_s=settings.claim_retry_window_s,
            shutdown_grace_s=settings.worker_shutdown_grace_s,
            run_options=sandbox_run_options(settings)
            | (run_options if run_options is not None else settings.worker_run_options),
            # fail closed: without a sandbox every run is refused, saying why
            sandbox_check=lambda: sandbox_problem(settings),
        )
        self.reaper = Reaper(
            self.port,
            reap_interval_for(settings.heartbeat_timeout_s, settings.requeue_after_s),
            healthy_for_s=settings.heartbeat_timeout_s,
        )
        self._bind_task()

    def _bind_task(self) -> None:
        executor = self.executor
        after = None
        if is_embedded_broker(self.app.conf.broker_url or ""):
            processed = embedded_broker_dir(self.settings.data_dir) / "processed"
            after = partial(prune_processed, processed)
        register_tasks(self.app, executor, after)

        @signals.worker_shutting_down.connect(weak=False)
        def _on_shutdown(**_: Any) -> None:
            executor.request_shutdown()

    def warm_up(self) -> None:
        """Pay the import cost of the trainer (torch) before the first run."""
        started = time.monotonic()
        self.executor.runner()
        log.info("worker.warm", seconds=round(time.monotonic() - started, 2))
        problem = sandbox_problem(self.settings)
        if problem is not None:
            log.error("worker.sandbox_unavailable", reason="SANDBOX_UNAVAILABLE", detail=problem)
        elif self.settings.unsafe_no_sandbox:
            log.warning(
                "worker.sandbox_none", detail="LOOPY_UNSAFE_NO_SANDBOX: agent code unsealed"
            )

    def run(self) -> None:
        # What an earlier process on this spool trained but could not deliver: first,
        # before the slow warm-up, so its runs are not mistaken for lost ones.
        drain_stop = threading.Event()
        SpoolDrainer(self.spool, drain_stop).start()
        self.warm_up()
        self.reaper.start()
        log.info("worker.started", worker_id=self.worker_id, queue=self.queue, device=self.device)
        pool = "solo" if self.concurrency == 1 else "threads"
        argv = [
            "worker",
            f"--pool={pool}",
            f"--concurrency={self.concurrency}",
            f"--queues={self.queue}",
            f"--hostname=loopy-{os.getpid()}@{socket.gethostname()}",
            f"--loglevel={self.settings.log_level.upper()}",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
        try:
            self.app.worker_main(argv)
        finally:
            drain_stop.set()
            self.reaper.stop()
            log.info("worker.stopped", worker_id=self.worker_id)
