"""`ctx`, the object a train.py's `train(ctx)` receives (SPEC §3).

It lives in the (untrusted) training child and talks to the supervisor over the
metrics channel. Nothing here is trusted by the supervisor beyond what it can
check: the validation metric is computed elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainer.runner.channel import Channel

EXPLODING_LOSS = 1e4  # nats: a reported loss above this ends the run as DIVERGED

# Dense bf16 tensor-core peak per GPU, by a substring of the device name (for MFU).
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "4090": 165e12,
    "3090": 71e12,
}


class TrainingDiverged(FloatingPointError):
    """Raised by ctx.report on a NaN, infinite or exploding loss."""


class ContractError(TypeError):
    """The train file broke the contract (bad arguments to ctx)."""


def peak_flops_for(device_name: str) -> float | None:
    for key, flops in PEAK_BF16_FLOPS.items():
        if key in device_name:
            return flops
    return None


class TrainContext:
    def __init__(
        self,
        channel: Channel,
        workdir: Path,
        data_dir: Path,
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
        self._data_dir = data_dir
        # The training clock starts at the first report (after compilation/warm-up), but no
        # later than clock_deadline (monotonic): a slow start eats into the budget.
        self._clock_deadline = clock_deadline
        self._clock_start: float | None = None
        self._last_report: float | None = None
        self.tokens_served = 0
        self.steps = 0
        self.saved = False
        self.checkpoint_path = workdir / "checkpoint.pt"

    # --- time ---

    def _start_clock(self, now: float) -> None:
        if self._clock_start is None:
            self._clock_start = min(now, self._clock_deadline)
            self._channel.send({"type": "clock_started"})

    def training_seconds(self) -> float:
        now = time.monotonic()
        if self._clock_start is None:
            if now < self._clock_deadline:
                return 0.0
            self._start_clock(now)
        assert self._clock_start is not None
        end = self._last_report if self._last_report is not None else now
        return max(0.0, end - self._clock_start)

    def progress(self) -> float:
        """Fraction of the budget spent, 0..1: time, or tokens when a token budget is set
        (whichever is further along; the time budget stays the hard limit)."""
        now = time.monotonic()
        if self._clock_start is None:
            if now < self._clock_deadline:
                return 0.0
            self._start_clock(now)
        assert self._clock_start is not None
        spent = (now - self._clock_start) / self.time_budget_s
        if self.token_budget > 0:
            spent = max(spent, self.tokens_served / self.token_budget)
        return min(1.0, spent)

    def should_stop(self) -> bool:
        return self.progress() >= 1.0

    # --- data ---

    def train_batches(self, batch_size: int, seq_len: int) -> Iterator[Any]:
        """Endless (x, y) LongTensor [batch_size, seq_len] pairs on ctx.device."""
        from trainer.data.loader import TrainLoader

        loader = TrainLoader(
            self._data_dir, batch_size, seq_len, seed=self.seed, device=self.device
        )
        for x, y in loader:
            self.tokens_served += int(x.numel())
            yield x, y

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
        self.steps = max(self.steps, int(step) + 1)
        self._channel.send(
            {
                "type": "metric",
                "step": int(step),
                "values": values,
                "wall": now,
                "tokens": self.tokens_served,
            }
        )
        if loss is not None and (
            not math.isfinite(values["loss"]) or values["loss"] > EXPLODING_LOSS
        ):
            raise TrainingDiverged(f"loss {values['loss']} at step {step}")

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
