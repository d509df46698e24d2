"""`CeleryDispatcher`: the domain's `Dispatcher` port on top of Celery."""

from __future__ import annotations

import structlog
from celery import Celery

from service.domain.errors import Unavailable
from service.domain.models import Run, RunState
from service.domain.ports import Dispatcher
from service.settings import Settings
from service.worker.celery_app import EXECUTE_RUN_TASK, create_celery_app

log = structlog.get_logger(__name__)

# Publishing is retried briefly; past this the caller gets UNAVAILABLE (503)
# rather than a hung request.
_PUBLISH_RETRY = {
    "max_retries": 3,
    "interval_start": 0.1,
    "interval_step": 0.3,
    "interval_max": 1.0,
}


class CeleryDispatcher(Dispatcher):
    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        self.settings = settings
        self.app = app or create_celery_app(settings)

    def submit(self, run: Run) -> None:
        """One message per run: task id = run id, queue = the run's device class."""
        try:
            self.app.send_task(
                EXECUTE_RUN_TASK,
                args=[run.id],
                task_id=run.id,
                queue=run.device_class,
                routing_key=run.device_class,
                retry=True,
                retry_policy=_PUBLISH_RETRY,
            )
        except Exception as exc:  # kombu raises transport-specific errors
            log.error("run.submit_failed", run_id=run.id, error=str(exc))
            raise Unavailable(f"the run queue is unreachable: {exc}", retry_after_s=5.0) from exc
        log.info("run.submitted", run_id=run.id, queue=run.device_class, attempt=run.attempt)

    def cancel(self, run: Run) -> None:
        """Revoke the queued message; a running child is stopped by its worker, whose
        next heartbeat finds the run no longer RUNNING (so this never blocks)."""
        if run.state not in (RunState.QUEUED, RunState.CANCELLED, RunState.RUNNING):
            return
        try:
            self.app.control.revoke(run.id)
        except Exception as exc:
            # Revocation is an optimisation: a delivered message whose run is no
            # longer QUEUED is refused by the claim guard anyway.
            log.warning("run.revoke_failed", run_id=run.id, error=str(exc))

    def ping(self) -> bool:
        """One connection attempt to the broker, bounded by a short timeout."""
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        except Exception:
            return False
        return True

    def close(self) -> None:
        self.app.close()
