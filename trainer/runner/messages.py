"""What a training child may say on its channel: one msgspec schema per message, bounded.

The supervisor decodes every frame against `TrainMessage`; anything that does not fit
(a list where a number belongs, a step of infinity, a 10 kB metric name, 1000 values
in one report, a frame over `MAX_FRAME_BYTES`, bytes that are not msgpack) ends the run
as CONTRACT with the decoder's own words for what was wrong. Nothing a child sends is a
trusted figure: what it says about itself is kept as `reported_*`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_FRAME_BYTES = 64 << 10  # the largest honest frame (a failure with its traceback) is ~8 kB
MAX_NAME_CHARS = 64
MAX_VALUES_PER_REPORT = 32
MAX_STEP = 10**12
MAX_TEXT_CHARS = 8000
MAX_BATCH_STREAMS = 4  # ctx.train_batches calls per run
# nats: a reported loss above this ends the run as DIVERGED (ctx.report raises in the
# child; the supervisor checks what arrives, since a child need not use ctx.report)
EXPLODING_LOSS = 1e4

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"^[\w.\-/]+$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_STEP)]
Seconds = Annotated[float, msgspec.Meta(ge=0.0, le=1e9)]  # msgspec rejects nan for bounds


class Waiting(msgspec.Struct, tag="waiting", forbid_unknown_fields=True):
    """A cold-started child is ready for its job (a warm one said so before its run)."""


class Hello(msgspec.Struct, tag="hello", forbid_unknown_fields=True):
    device_name: Annotated[str, msgspec.Meta(max_length=200)]


class Metric(msgspec.Struct, tag="metric", forbid_unknown_fields=True):
    step: Count
    # values may be non-finite: a NaN loss is how a run is seen to diverge
    values: Annotated[dict[Name, float], msgspec.Meta(max_length=MAX_VALUES_PER_REPORT)]


class OpenBatches(msgspec.Struct, tag="open_batches", forbid_unknown_fields=True):
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=1 << 16)]
    seq_len: Annotated[int, msgspec.Meta(ge=1, le=1 << 20)]


class NextBatch(msgspec.Struct, tag="next_batch", forbid_unknown_fields=True):
    stream: Annotated[int, msgspec.Meta(ge=0, lt=MAX_BATCH_STREAMS)]


class Saved(msgspec.Struct, tag="saved", forbid_unknown_fields=True):
    num_params: Count


class Failed(msgspec.Struct, tag="failed", forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
    message: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]


class Done(msgspec.Struct, tag="done", forbid_unknown_fields=True):
    """The child's own account of its run: kept as reported_* extras, never trusted."""

    steps: Count
    tokens: Count
    training_seconds: Seconds
    peak_memory_mb: Annotated[float, msgspec.Meta(ge=0.0, le=1e12)]


TrainMessage = Waiting | Hello | Metric | OpenBatches | NextBatch | Saved | Failed | Done

decode_train_message = msgspec.msgpack.Decoder(TrainMessage).decode
