"""A TOKENS track budget (issue 10, item 7): ctx.progress() counts the tokens served, so
should_stop() comes after the same amount of data however busy the machine is."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trainer.runner.ctx import TrainContext


class _Channel:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def make_ctx(tmp_path: Path, token_budget: int, time_budget_s: float = 3600.0) -> TrainContext:
    return TrainContext(
        channel=_Channel(),  # type: ignore[arg-type]
        workdir=tmp_path,
        device="cpu",
        vocab_size=256,
        seq_len=64,
        bos_token_id=0,
        time_budget_s=time_budget_s,
        seed=0,
        options={},
        clock_deadline=time.monotonic(),  # the clock starts at once
        device_name="cpu",
        peak_flops=None,
        token_budget=token_budget,
    )


def test_progress_follows_the_tokens_served(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, token_budget=10_000)
    assert ctx.progress() < 0.01
    ctx.tokens_served = 2_500
    assert 0.25 <= ctx.progress() < 0.26 and not ctx.should_stop()
    ctx.tokens_served = 10_000
    assert ctx.progress() == 1.0 and ctx.should_stop()


def test_the_time_budget_still_ends_a_slow_run(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, token_budget=10**12, time_budget_s=1e-6)
    time.sleep(0.01)
    assert ctx.should_stop()  # the hard limit stays the time budget


def test_without_a_token_budget_only_time_counts(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, token_budget=0)
    ctx.tokens_served = 10**9
    assert ctx.progress() < 0.01
