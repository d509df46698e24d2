"""The worker's Celery task: a run id in, the executor's answer out; a claim the store
could not answer goes back to the broker unacknowledged."""

from __future__ import annotations

import pytest
from celery import Celery
from celery.exceptions import Reject

from service.worker.celery_app import EXECUTE_RUN_TASK
from service.worker.executor import ClaimDeferred
from service.worker.tasks import register_tasks


class _Executor:
    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.seen: list[str] = []

    def execute(self, run_id: str) -> str:
        self.seen.append(run_id)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _app() -> Celery:
    return Celery("test", broker="memory://", set_as_current=False)


def test_the_task_is_registered_under_its_name_and_runs_the_executor() -> None:
    app, executor, after = _app(), _Executor("SUCCEEDED"), []
    register_tasks(app, executor, lambda: after.append(1))  # type: ignore[arg-type]
    assert app.tasks[EXECUTE_RUN_TASK].run("run-1") == "SUCCEEDED"
    assert executor.seen == ["run-1"] and after == [1]


def test_a_deferred_claim_is_rejected_back_to_the_broker() -> None:
    app, after = _app(), []
    executor = _Executor(ClaimDeferred("store down"))
    register_tasks(app, executor, lambda: after.append(1))  # type: ignore[arg-type]
    with pytest.raises(Reject) as raised:
        app.tasks[EXECUTE_RUN_TASK].run("run-2")
    assert raised.value.requeue is True
    assert after == [1]  # housekeeping runs whatever happened
