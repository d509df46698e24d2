"""Assemble the domain core from settings: stores by URL, a dispatcher, the knobs."""

from __future__ import annotations

from pathlib import Path

from service.domain.ports import Dispatcher
from service.domain.service import DomainSettings, Loopy
from service.settings import Settings
from service.stores import open_artifact_store, open_metadata_store


def domain_settings(settings: Settings) -> DomainSettings:
    return DomainSettings(
        default_time_budget_s=settings.default_time_budget_s,
        heartbeat_timeout_s=settings.heartbeat_timeout_s,
        requeue_after_s=settings.requeue_after_s,
        ready_cache_s=settings.ready_cache_s,
    )


def build_core(settings: Settings, dispatcher: Dispatcher | None = None) -> Loopy:
    """The one `Loopy` of a process. The dispatcher defaults to Celery on the
    configured broker (imported lazily: `loopy keys` never touches the broker)."""
    if not settings.database_url or not settings.artifacts_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)  # the embedded default
    meta = open_metadata_store(settings.effective_database_url)
    try:
        artifacts = open_artifact_store(settings.effective_artifacts_url, settings)
        if dispatcher is None:
            from service.worker.dispatch import CeleryDispatcher

            dispatcher = CeleryDispatcher(settings)
    except BaseException:
        meta.close()
        raise
    return Loopy(meta, artifacts, dispatcher, domain_settings(settings))
