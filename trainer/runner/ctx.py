"""`ctx`, the object a train.py's `train(ctx)` receives (SPEC §3).

It lives in the (untrusted) training child and talks to the supervisor over the
metrics channel. Nothing here is trusted by the supervisor beyond what it can
check: the validation metric is computed elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainer.runner.channel import Channel
from trainer.runner.messages import (
    EXPLODING_LOSS,
    MAX_NAME_CHARS,
    MAX_STEP,
    MAX_VALUES_PER_REPORT,
)

REPORT_RATE = 200.0  # metric messages per second sent on average (more are skipped)
REPORT_BURST = 1000.0
_NAME = re.compile(rf"[\w.\-/]{{1,{MAX_NAME_CHARS}}}")


class TrainingDiverged(FloatingPointError):
    """Raised by ctx.report on a NaN, infinite or exploding loss."""


class ContractError(TypeError):
    """The train file broke the contract (bad arguments to ctx)."""


class TrainContext:
    def __init__(
        self,
        channel: Channel,
        workdir: Path,
        device: str,
        vocab_size: int,
        seq_len: int,
        bos_token_id: int,
        time_budget_s: float,
        seed: int,
        options: dict[str, Any],
        clock_deadline: float,
        device_name: str,
        peak_flops: float | None,
        token_budget: int = 0,
    ) -> None:
        self.device = device
        self.vocab_size = vocab_size
        self.seq_len = seq_len
        self.bos_token_id = bos_token_id
        self.time_budget_s = time_budget_s
        self.token_budget = token_budget  # 0: the time budget alone
        self.seed = seed
        self.options = dict(options)
        self.device_name = device_name
        self.peak_flops = peak_flops
        self._channel = channel
        self._workdir = workdir
        # The supervisor's clock is the one that counts (and stops the batches): it starts
        # at the first report, at the first batch past the warm-up, or at clock_deadline
        # (monotonic), whichever is first. This is our view of it, for progress().
        self._clock_deadline = clock_deadline
        self._clock_start: float | None = None
        self._last_report: float | None = None
        self._batches_ended = False
        self._report_tokens = REPORT_BURST
        self._report_refill = time.monotonic()
        self.tokens_served = 0
        self.steps = 0
        self.saved = False
        self.checkpoint_path = workdir / "checkpoint.pt"

    # --- time ---

    def _start_clock(self, now: float) -> None:
        if self._clock_start is None:
            self._clock_start = min(now, self._clock_deadline)

    def _clock(self, now: float) -> float | None:
        if self._clock_start is None and now >= self._clock_deadline:
            self._start_clock(now)
        return self._clock_start

    def training_seconds(self) -> float:
        now = time.monotonic()
        start = self._clock(now)
        if start is None:
            return 0.0
        end = self._last_report if self._last_report is not None else now
        return max(0.0, end - start)

    def progress(self) -> float:
        """Fraction of the budget spent, 0..1: time, or tokens when a token budget is set
        (whichever is further along; the time budget stays the hard limit)."""
        if self._batches_ended:
            return 1.0
        now = time.monotonic()
        start = self._clock(now)
        if start is None:
            return 0.0
        spent = (now - start) / self.time_budget_s
        if self.token_budget > 0:
            spent = max(spent, self.tokens_served / self.token_budget)
        return min(1.0, spent)

    def should_stop(self) -> bool:
        return self.progress() >= 1.0

    # --- data ---

    def train_batches(self, batch_size: int, seq_len: int) -> Iterator[Any]:
        """(x, y) LongTensor [batch_size, seq_len] pairs on ctx.device, served by the
        supervisor until the time budget is spent; then the iterator ends."""
        if not all(isinstance(n, int) and n >= 1 for n in (batch_size, seq_len)):
            raise ContractError(
                f"ctx.train_batches: batch_size and seq_len must be positive integers, "
                f"got {batch_size!r}, {seq_len!r}"
            )
        from trainer.runner.batches import BatchStream

        stream = BatchStream(self._channel, batch_size, seq_len, self.device, self._on_batch)
        yield from stream
        self._batches_ended = True

    def _on_batch(self, tokens: int, clock_start: float | None) -> None:
        self.tokens_served += tokens
        if clock_start is not None and self._clock_start is None:
            self._clock_start = float(clock_start)

    # --- reporting ---

    def report(self, step: int, loss: float | None = None, **extra: Any) -> None:
        now = time.monotonic()
        self._start_clock(now)
        self._last_report = now
        values: dict[str, float] = {}
        for name, value in ({"loss": loss} | extra).items():
            if value is None:
                continue
            try:
                values[str(name)] = float(value)
            except (TypeError, ValueError):
                raise ContractError(f"ctx.report: {name}={value!r} is not a number") from None
        if len(values) > MAX_VALUES_PER_REPORT:
            raise ContractError(f"ctx.report: at most {MAX_VALUES_PER_REPORT} values per report")
        for name in values:
            if not _NAME.fullmatch(name):
                raise ContractError(
                    f"ctx.report: {name[:80]!r} is not a metric name (1-{MAX_NAME_CHARS} "
                    "letters, digits, _ . - /)"
                )
        try:
            step = int(step)
        except (TypeError, ValueError, OverflowError):
            raise ContractError(f"ctx.report: step={step!r} is not an integer") from None
        if not 0 <= step <= MAX_STEP:
            raise ContractError(f"ctx.report: step={step} is not in 0..{MAX_STEP}")
        self.steps = max(self.steps, step + 1)
        diverged = loss is not None and (
            not math.isfinite(values["loss"]) or values["loss"] > EXPLODING_LOSS
        )
        if self._may_report(now) or diverged:
            self._channel.send({"type": "metric", "step": step, "values": values})
        if diverged:
            raise TrainingDiverged(f"loss {values['loss']} at step {step}")

    def _may_report(self, now: float) -> bool:
        """The supervisor ends a run that floods its channel; an honest loop that reports
        faster than REPORT_RATE per second has its extra reports skipped here instead."""
        self._report_tokens = min(
            REPORT_BURST, self._report_tokens + (now - self._report_refill) * REPORT_RATE
        )
        self._report_refill = now
        if self._report_tokens < 1:
            return False
        self._report_tokens -= 1
        return True

    # --- the result ---

    def save(self, model: Any, config: dict[str, Any]) -> None:
        """Store the weights and the build_model config for the trusted evaluation."""
        import torch

        try:
            config_json = json.dumps(config)
        except (TypeError, ValueError) as exc:
            raise ContractError(f"ctx.save: config must be JSON-serialisable: {exc}") from None
        if not isinstance(config, dict):
            raise ContractError("ctx.save: config must be a dict (the build_model argument)")
        if not isinstance(model, torch.nn.Module):
            raise ContractError("ctx.save: model must be a torch.nn.Module")
        model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
        state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
        n_params = sum(p.numel() for p in model.parameters())
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)
        self.checkpoint_path.with_suffix(".json").write_text(config_json)
        self.saved = True
        self._channel.send({"type": "saved", "num_params": int(n_params)})
