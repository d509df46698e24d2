"""The supervisor's side of the training channel never raises on what a child sends: any
frame is either a message of the bounded schema or ends the run as CONTRACT."""

from __future__ import annotations

import json
import math
import struct
import threading
import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.runner.batches import BatchServer, TrainingClock
from trainer.runner.channel import Channel
from trainer.runner.watch import MESSAGE_BURST, TrainingWatch

TAGS = ["waiting", "hello", "metric", "open_batches", "next_batch", "saved", "failed", "done"]


def feed(tmp_path: Path, frames: list[bytes]) -> TrainingWatch:
    """Run a TrainingWatch over `frames` from a fake child; it must end on its own."""
    ours, theirs = Channel.pair()
    clock = TrainingClock(time.monotonic(), 60.0, 10.0)
    server = BatchServer(str(tmp_path / "no-harness"), 0, clock)
    escaped: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: escaped.append(args.exc_value)  # type: ignore[assignment]
    try:
        watch = TrainingWatch(ours, tmp_path, None, server, clock)
        theirs.settimeout(5)
        try:
            for frame in frames:
                theirs.sendall(struct.pack("!I", len(frame)) + frame)
        except OSError:  # the watch stopped reading (a violation): fine
            pass
        theirs.close()
        watch.thread.join(timeout=10)
        assert not watch.thread.is_alive()
        watch.join()
    finally:
        threading.excepthook = previous
    assert not escaped, escaped
    return watch


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=70), inner, max_size=40)
    ),
    max_leaves=50,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(TAGS + ["pwn"]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "step",
                "values",
                "device_name",
                "num_params",
                "reason",
                "message",
                "steps",
                "tokens",
                "training_seconds",
                "peak_memory_mb",
                "stream",
                "batch_size",
                "seq_len",
                "x",
            ]
        ),
        json_values,
        max_size=6,
    ),
)
def test_any_message_is_handled_or_contract(tmp_path, kind, fields):
    if kind in ("open_batches", "next_batch"):
        fields = {k: v for k, v in fields.items() if k not in ("batch_size", "stream")}
    watch = feed(tmp_path, [msgspec.msgpack.encode({"type": kind, **fields})])
    if watch.violation is not None:
        reason, message = watch.violation
        assert reason in ("CONTRACT", "DIVERGED"), watch.violation
        assert "training channel" in message or "loss" in message
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        assert math.isfinite(json.loads(line)["value"])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_any_bytes_are_handled_or_contract(tmp_path, frame):
    watch = feed(tmp_path, [frame])
    assert watch.violation is None or watch.violation[0] == "CONTRACT"


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ({"type": "metric", "step": 1, "values": [1.0]}, "Expected `object`, got `array`"),
        ({"type": "metric", "step": 1e308, "values": {}}, "Expected `int`, got `float`"),
        ({"type": "metric", "step": -1, "values": {}}, "Expected `int` >= 0"),
        ({"type": "metric", "step": 1, "values": {"bad name!": 1.0}}, "matching regex"),
        ({"type": "hello", "device_name": "x" * 201}, "length <= 200"),
        ({"type": "failed", "reason": "CRASH", "message": "x" * 9000}, "length <= 8000"),
        ({"type": "next_batch", "stream": 9}, "Expected `int` <= 3"),
        ({"type": "open_batches", "batch_size": 0, "seq_len": 8}, "Expected `int` >= 1"),
    ],
)
def test_malformed_messages_say_what_was_wrong(tmp_path, message, says):
    watch = feed(tmp_path, [msgspec.msgpack.encode(message)])
    assert watch.violation is not None and watch.violation[0] == "CONTRACT"
    assert says in watch.violation[1], watch.violation[1]


def test_a_next_batch_before_any_stream_is_contract(tmp_path):
    watch = feed(tmp_path, [msgspec.msgpack.encode({"type": "next_batch", "stream": 0})])
    assert watch.violation == ("CONTRACT", "training batches: no batch stream 0 was opened")


def test_a_flood_ends_as_contract_with_the_figures_kept(tmp_path):
    saved = msgspec.msgpack.encode({"type": "saved", "num_params": 5})
    metric = msgspec.msgpack.encode({"type": "metric", "step": 2, "values": {"loss": 1.5}})
    watch = feed(tmp_path, [metric] + [saved] * int(3 * MESSAGE_BURST))
    assert watch.violation is not None and "flooded" in watch.violation[1]
    assert watch.last_loss == 1.5 and watch.reported["num_params"] == 5
    assert watch.clock.start is not None  # the report started the training clock


def test_a_non_finite_loss_is_diverged_and_not_recorded(tmp_path):
    nan = msgspec.msgpack.encode({"type": "metric", "step": 3, "values": {"loss": math.nan}})
    watch = feed(tmp_path, [nan])
    assert watch.violation == ("DIVERGED", "loss nan reported at step 3")
    assert (tmp_path / "metrics.jsonl").read_text() == ""
