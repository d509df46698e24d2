"""The runner: sandboxed training, then trusted evaluation (SPEC §3-4).

from trainer.runner import run, RunConfig, RunResult
result = run(RunConfig(harness_dir=..., train_source=..., budget_s=60, out_dir=...))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainer.runner.config import RunConfig, RunResult

if TYPE_CHECKING:
    from trainer.runner.supervisor import run
    from trainer.runner.warm import WarmChildren, prewarm

__all__ = ["RunConfig", "RunResult", "WarmChildren", "prewarm", "run"]


def __getattr__(name: str) -> Any:
    # lazily: a child process imports trainer.runner.child_* without torch, so that it can
    # set the environment torch's libraries read when they load (e.g. OMP_WAIT_POLICY)
    if name in ("WarmChildren", "prewarm"):
        from trainer.runner import warm

        return getattr(warm, name)
    if name == "run":
        from trainer.runner import supervisor

        return supervisor.run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
