"""The training watch: the supervisor's side of the training child's channel.

It serves the child's batches, records its metrics (rate-limited and capped), keeps
what the child claims about itself apart from what is measured, and turns anything
off-schema or a flood into a CONTRACT violation. Nothing a child sends can raise here.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from trainer.runner.batches import BatchRefused, BatchServer, TrainingClock
from trainer.runner.channel import Channel, ChannelClosed
from trainer.runner.config import RunFailure
from trainer.runner.messages import (
    EXPLODING_LOSS,
    MAX_FRAME_BYTES,
    Done,
    Failed,
    Hello,
    Metric,
    NextBatch,
    OpenBatches,
    Saved,
    TrainMessage,
    decode_train_message,
)

MetricsCallback = Callable[[list[dict[str, Any]]], None]
# A train file's channel: messages other than batch requests (which wait for our answer)
# at most MESSAGE_RATE per second on average, else the run ends as CONTRACT (ctx.report
# itself sends at most 200 per second); metric values recorded at most ROW_RATE per
# second and MAX_METRIC_ROWS per run, the rest counted as dropped.
MESSAGE_RATE, MESSAGE_BURST = 2000.0, 20000.0
ROW_RATE, ROW_BURST = 1000.0, 10000.0
MAX_METRIC_ROWS = 100_000


class TrainingWatch:
    """Reads the training child's channel on a thread: serves its batches, records its
    metrics, keeps what it claims about itself. Every frame is decoded against the
    bounded schema in trainer.runner.messages; the first one that does not fit, or a
    flood, sets `violation` (CONTRACT, saying what was wrong) and reading stops. Nothing
    a child sends can raise here."""

    def __init__(
        self,
        channel: Channel,
        out_dir: Path,
        on_metrics: MetricsCallback | None,
        batches: BatchServer,
        clock: TrainingClock,
    ) -> None:
        self.channel = channel
        self.on_metrics = on_metrics
        self.batches = batches
        self.clock = clock
        self.metrics_file = open(out_dir / "metrics.jsonl", "w")  # noqa: SIM115 - closed in join
        self.violation: tuple[RunFailure, str] | None = None  # seen here; the child is killed
        self.claimed_failure: tuple[str, str] | None = None  # the child's word only
        self.reported: dict[str, Any] = {}
        self.saved = False  # the child says it called ctx.save (the file is checked)
        self.last_loss: float | None = None
        self.rows = 0
        self.dropped = 0
        self._mfu: list[float] = []
        self._messages = _Bucket(MESSAGE_RATE, MESSAGE_BURST)
        self._row_budget = _Bucket(ROW_RATE, ROW_BURST)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while self.violation is None:
            try:
                frame = self.channel.recv_frame(max_bytes=MAX_FRAME_BYTES)
            except (ChannelClosed, OSError):
                return
            except Exception as exc:  # ChannelError: oversized frame
                self.violation = (RunFailure.CONTRACT, f"training channel: {exc}")
                return
            try:
                message = decode_train_message(frame)
            except msgspec.ValidationError as exc:
                self.violation = (RunFailure.CONTRACT, f"training channel: invalid message: {exc}")
                return
            except Exception as exc:
                self.violation = (
                    RunFailure.CONTRACT,
                    f"training channel: undecodable frame: {exc}",
                )
                return
            try:
                self._handle(message)
            except BatchRefused as exc:
                self.violation = (RunFailure.CONTRACT, f"training batches: {exc}")
            except (ChannelClosed, OSError):  # the child is gone mid-reply
                return
            except Exception as exc:  # ours (e.g. an unreadable harness), never the child's
                self.violation = (
                    RunFailure.CRASH,
                    f"the supervisor failed serving the child: {exc!r}",
                )

    def _handle(self, message: TrainMessage) -> None:
        now = time.monotonic()
        if isinstance(message, NextBatch):  # request and answer: the child waits on us
            self.batches.next(message, self.channel)
            return
        if isinstance(message, OpenBatches):
            self.batches.open(message, self.channel)
            return
        if not self._messages.take(now):
            self.violation = (
                RunFailure.CONTRACT,
                f"training channel flooded: more than {MESSAGE_BURST:g} messages at over "
                f"{MESSAGE_RATE:g} per second",
            )
            return
        if isinstance(message, Metric):
            self._metric(message, now)
        elif isinstance(message, Hello):
            self.reported["device_name"] = message.device_name
        elif isinstance(message, Saved):
            self.saved = True
            self.reported["num_params"] = message.num_params
        elif isinstance(message, Failed):
            if self.claimed_failure is None:
                self.claimed_failure = (message.reason, message.message)
                self.reported["failure_reason"] = message.reason
        elif isinstance(message, Done):
            self.reported |= {
                "num_steps": message.steps,
                "total_tokens": message.tokens,
                "training_seconds": message.training_seconds,
                "peak_memory_mb": message.peak_memory_mb,
            }

    def _metric(self, message: Metric, now: float) -> None:
        start = self.clock.start_now(now)  # the first report starts the clock
        step, values = message.step, message.values
        self.reported["num_steps"] = max(self.reported.get("num_steps", 0), step + 1)
        loss = values.get("loss")
        if loss is not None:
            self.last_loss = loss
            if not math.isfinite(loss) or loss > EXPLODING_LOSS:
                self.violation = (RunFailure.DIVERGED, f"loss {loss} reported at step {step}")
        mfu = values.get("mfu_percent")
        if mfu is not None and step > 0 and math.isfinite(mfu):
            self._mfu.append(mfu)
            self.reported["mfu_percent"] = sum(self._mfu) / len(self._mfu)
        wall = max(0.0, now - start)
        rows = []
        for name, value in values.items():
            if not math.isfinite(value):
                continue  # not a point on a chart (a non-finite loss ended the run above)
            if self.rows >= MAX_METRIC_ROWS or not self._row_budget.take(now):
                self.dropped += 1
                continue
            self.rows += 1
            rows.append({"step": step, "name": name, "value": value, "wall_seconds": wall})
        if not rows:
            return
        self.metrics_file.write("".join(json.dumps(row) + "\n" for row in rows))
        if self.on_metrics is not None:
            try:
                self.on_metrics(rows)
            except Exception:  # the caller's store: a failed write is not the run's fault
                pass

    def join(self) -> None:
        self.thread.join(timeout=5)
        self.channel.close()
        self.metrics_file.close()
        self.batches.close()


class _Bucket:
    """A token bucket: `rate` per second on average, `burst` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
