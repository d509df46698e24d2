"""Can this host seal agent code? One answer for the worker (refuse to train when not)
and for /readyz (say so), from the settings' sandbox fields (service/settings.py)."""

from __future__ import annotations

from typing import Any

from service.settings import Settings

UNSAFE = "none"
SEALED = "bubblewrap"


def sandbox_label(settings: Settings) -> str:
    """What every run of a worker with these settings reports as its `sandbox`."""
    return UNSAFE if settings.unsafe_no_sandbox else SEALED


def sandbox_run_options(settings: Settings) -> dict[str, Any]:
    """The RunConfig fields that carry the sandbox settings to the trainer's runner."""
    return {
        "sandbox": sandbox_label(settings),
        "bwrap": settings.sandbox_bwrap,
        "sandbox_uid": settings.sandbox_uid,
    }


def sandbox_problem(settings: Settings) -> str | None:
    """None when runs can be sealed here (or the operator chose the unsafe mode), else
    SANDBOX_UNAVAILABLE's message: what is missing and how to grant it. The probe runs
    once per process (it starts one sandbox)."""
    if settings.unsafe_no_sandbox:
        return None
    from trainer.runner.sandbox import SandboxSettings, SandboxUnavailable, require_sandbox

    try:
        require_sandbox(SandboxSettings(bwrap=settings.sandbox_bwrap, uid=settings.sandbox_uid))
    except SandboxUnavailable as exc:
        return str(exc)
    return None
