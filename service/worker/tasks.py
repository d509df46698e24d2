"""The Celery task of a worker: `loopy.execute_run(run_id)`, one message per run.

The task holds no logic of its own: it hands the run id to the process's
RunExecutor (which claims, trains and delivers) and translates the one outcome
Celery must act on: a claim deferred through a store outage goes back to the
broker unacknowledged, never acknowledged away.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery, Task
from celery.exceptions import Reject

from service.worker.celery_app import EXECUTE_RUN_TASK
from service.worker.executor import ClaimDeferred, RunExecutor


class ExecuteRun(Task):  # type: ignore[misc]
    name = EXECUTE_RUN_TASK
    ignore_result = True

    def __init__(self, executor: RunExecutor, after: Callable[[], None] | None = None) -> None:
        self.executor = executor
        self.after = after  # after every message, whatever happened (broker housekeeping)

    def run(self, run_id: str) -> str:
        try:
            return self.executor.execute(run_id)
        except ClaimDeferred as exc:
            # Back to the broker, unacknowledged (the sweeper is the backstop).
            raise Reject(str(exc), requeue=True) from exc
        finally:
            if self.after is not None:
                self.after()


def register_tasks(
    app: Celery, executor: RunExecutor, after: Callable[[], None] | None = None
) -> ExecuteRun:
    """Bind the worker's task to `app`, served by `executor`."""
    task: ExecuteRun = app.register_task(ExecuteRun(executor, after))
    return task
