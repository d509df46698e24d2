"""The runner: sandboxed training, then trusted evaluation (SPEC §3-4).

from trainer.runner import run, RunConfig, RunResult
result = run(RunConfig(harness_dir=..., train_source=..., budget_s=60, out_dir=...))
"""

from trainer.runner.config import RunConfig, RunResult
from trainer.runner.supervisor import WarmChildren, prewarm, run

__all__ = ["RunConfig", "RunResult", "WarmChildren", "prewarm", "run"]
