"""Limits and quotas every use-case checks: sizes of names, sources and seeds, the
agent's run and compute quotas, the edit policy of a track."""

from __future__ import annotations

import re
import secrets

import structlog

from service.domain import edits
from service.domain.context import Context
from service.domain.errors import PayloadTooLarge, QuotaExceeded
from service.domain.models import Agent, Track

log = structlog.get_logger(__name__)


TRACK_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
DEVICE_CLASS_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,31}$")
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_REQUEST_ID_CHARS = 128
MAX_NAME_CHARS = 100
MAX_PROGRAM_CHARS = 100_000
MAX_SEED = 2**31 - 1
MAX_STEP = 2**63 - 1  # metric steps are 64-bit in every store and on the wire


def free_seed(used: set[int]) -> int:
    while True:
        seed = secrets.randbelow(MAX_SEED)
        if seed not in used:
            used.add(seed)
            return seed


def check_run_quota(ctx: Context, agent: Agent, track: Track, needed: int = 1) -> None:
    active = ctx.meta.count_active_runs(agent.id)
    if active + needed > agent.quota.max_queued_runs:
        raise QuotaExceeded(
            f"agent {agent.id} has {active} runs queued or running; "
            f"the limit is {agent.quota.max_queued_runs}",
            details={
                "quota": "max_queued_runs",
                "limit": agent.quota.max_queued_runs,
                "active_runs": active,
                "requested": needed,
            },
            # A slot frees when one of the agent's runs ends: about one budget away.
            retry_after_s=track.time_budget_s,
        )
    check_compute_quota(agent)


def check_compute_quota(agent: Agent) -> None:
    if agent.compute_seconds_used >= agent.quota.max_compute_seconds:
        raise QuotaExceeded(
            f"agent {agent.id} has used its compute quota "
            f"({agent.compute_seconds_used:.0f} of {agent.quota.max_compute_seconds:.0f} s)",
            details={
                "quota": "max_compute_seconds",
                "limit": agent.quota.max_compute_seconds,
                "used": agent.compute_seconds_used,
                "advice": "the compute quota is a lifetime budget; an admin can raise it",
            },
        )


def edit_policy(ctx: Context, track: Track) -> edits.EditPolicy:
    return edits.EditPolicy(
        allowed_imports=frozenset(track.allowed_imports),
        max_source_bytes=ctx.settings.max_source_bytes,
        max_patch_bytes=ctx.settings.max_patch_bytes,
        max_description_chars=ctx.settings.max_description_chars,
    )


def check_source_size(ctx: Context, source: str, field: str) -> None:
    size = len(source.encode("utf-8"))
    if size > ctx.settings.max_source_bytes:
        raise PayloadTooLarge(
            f"{field} is over the size limit",
            details={
                "field": field,
                "limit_bytes": ctx.settings.max_source_bytes,
                "bytes": size,
            },
        )
