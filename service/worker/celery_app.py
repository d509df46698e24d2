"""The Celery application: broker choice, queue policy, the one task name.

One task per run (task id = run id) on the queue of the run's device class.
Workers take one message at a time (prefetch 1) and acknowledge it only when
the run is over (late acks), so a message whose worker died is redelivered;
`Loopy.claim_run` makes every redelivery after the first claim a no-op.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery import Celery

from service.settings import Settings

EXECUTE_RUN_TASK = "loopy.execute_run"

# The embedded broker is polled; 50 ms keeps the hand-off from API to worker
# well under the 1 s an agent would notice, at a negligible CPU cost.
EMBEDDED_POLLING_INTERVAL_S = 0.05

# Redis/SQS-style brokers redeliver an unacknowledged message after this long.
# A message stays unacknowledged for the whole run (late acks), so this must
# outlast the longest run; a shorter value would only cause no-op redeliveries
# (the claim guard refuses them) and the reaper handles dead workers anyway.
VISIBILITY_TIMEOUT_S = 6 * 3600


# The embedded broker keeps each consumed message in a "processed" folder
# (that rename is what makes a hand-off atomic); older ones are deleted.
PROCESSED_MESSAGE_TTL_S = 600.0


def embedded_broker_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "broker"


def broker_url_for(settings: Settings) -> str:
    """LOOPY_BROKER_URL, or the embedded broker under the data dir (no server)."""
    return settings.broker_url or "filesystem://localhost//"  # a host silences kombu's warning


def is_embedded_broker(url: str) -> bool:
    return url.startswith("filesystem://")


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    url = broker_url_for(settings)
    if is_embedded_broker(url):
        root = embedded_broker_dir(settings.data_dir)
        folders = {
            "data": root / "queue",
            "processed": root / "processed",
            "control": root / "control",
        }
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folders["data"]),
            "data_folder_out": str(folders["data"]),
            # A consumer takes a message by renaming it into this folder: the
            # rename is atomic on one file system, so two workers never both
            # get it (moving to /tmp may copy across file systems instead).
            "store_processed": True,
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "polling_interval": EMBEDDED_POLLING_INTERVAL_S,
        }
    if url.startswith(("redis://", "rediss://")):
        return {"visibility_timeout": VISIBILITY_TIMEOUT_S}
    return {}


def create_celery_app(settings: Settings) -> Celery:
    """A Celery app configured for Loopy; the task is bound by the worker (tasks.py)."""
    app = Celery("loopy", broker=broker_url_for(settings), set_as_current=False)
    app.conf.update(
        broker_transport_options=broker_transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results go to the metadata store, not a backend
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_create_missing_queues=True,
        task_default_queue="cpu",
    )
    return app


def prune_processed(folder: Path) -> None:
    """Delete the embedded broker's consumed messages older than PROCESSED_MESSAGE_TTL_S."""
    cutoff = time.time() - PROCESSED_MESSAGE_TTL_S
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
        except FileNotFoundError:
            pass
