"""Every figure of a run is the supervisor's: forged figures, training outside the clock,
forged failure reasons and a hostile metrics channel, from inside a sealed child."""

import json
import re
from pathlib import Path

import pytest

# The bigram of conftest, with hooks: PRELUDE runs first in train(ctx), FORGE after ctx.save.
HOOKED = """
import os, socket, struct, time
import msgspec
import torch
import torch.nn as nn
import torch.nn.functional as F


class Bigram(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx):
        return self.table(idx)


def build_model(config):
    return Bigram(config["vocab_size"])


def send(ctx, message):
    ctx._channel.send(message)


def train(ctx):
    torch.manual_seed(ctx.seed)
    model = build_model({"vocab_size": ctx.vocab_size})
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    PRELUDE
    for step, (x, y) in enumerate(ctx.train_batches(8, ctx.seq_len)):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
        ctx.report(step, loss=loss.item())
        if ctx.should_stop() or step >= 5:
            break
    MIDDLE
    ctx.save(model, {"vocab_size": ctx.vocab_size})
    FORGE
"""

TOKENS_PER_BATCH = 8 * 64  # the tiny harness has seq_len 64


def hooked(prelude: str = "pass", middle: str = "pass", forge: str = "pass") -> str:
    return HOOKED.replace("PRELUDE", prelude).replace("MIDDLE", middle).replace("FORGE", forge)


FORGE_FIGURES = """
    send(ctx, {"type": "hello", "device_name": "NVIDIA H100 80GB HBM3"})
    send(ctx, {"type": "saved", "num_params": 7_000_000_000})
    ctx.training_seconds = lambda: 1e-6
    ctx.tokens_served = 10**12
    ctx.steps = 10**6
"""


def test_forged_figures_are_kept_as_reported_and_never_trusted(run_source):
    result = run_source(hooked(forge=FORGE_FIGURES))
    assert result.state == "SUCCEEDED", result.failure_message
    assert result.device_name == "cpu"
    assert result.num_params == 300 * 300  # the checkpoint's one 300 x 300 table
    assert result.num_steps == 6  # batches served
    assert result.total_tokens == 6 * TOKENS_PER_BATCH
    assert result.training_seconds > 0.001
    assert result.compute_seconds == result.training_seconds
    assert 10 < result.peak_memory_mb < 4096  # the child's own, measured from outside
    assert result.mfu_percent is None  # no peak for a CPU
    assert result.reported["device_name"] == "NVIDIA H100 80GB HBM3"
    assert result.reported["num_params"] == 7_000_000_000
    assert result.reported["training_seconds"] == 1e-6
    assert result.reported["total_tokens"] == 10**12
    assert result.reported["num_steps"] == 10**6


def steps_in_log(result, name: str) -> int:
    text = Path(result.log_path).read_text()
    match = re.search(rf"{name} (\d+)", text)
    assert match, text[-2000:]
    return int(match.group(1))


# Trains unreported for 2 s before its first report, then (after should_stop) for 1.5 s
# of the save grace, printing how many batches it really trained on.
OFF_THE_CLOCK = """
    batches = ctx.train_batches(8, ctx.seq_len)
    real = 0
    t0 = time.monotonic()
    for x, y in batches:
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
        opt.step()
        opt.zero_grad()
        real += 1
        if time.monotonic() - t0 > 2:
            break
    for step, (x, y) in enumerate(batches):
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
        opt.step()
        opt.zero_grad()
        real += 1
        ctx.report(step, loss=1.0)
        if ctx.should_stop():
            break
    t1 = time.monotonic()
    grace = 0
    for x, y in batches:
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
        opt.step()
        opt.zero_grad()
        grace += 1
        if time.monotonic() - t1 > 1.5:
            break
    print(f"REAL_BATCHES {real + grace}", flush=True)
    print(f"GRACE_BATCHES {grace}", flush=True)
    ctx.save(model, {"vocab_size": ctx.vocab_size})
    return
"""


def test_training_before_the_clock_and_in_the_grace_is_counted_and_starved(run_source):
    result = run_source(hooked(prelude=OFF_THE_CLOCK), budget_s=1.0, grace_s=3.0)
    assert result.state == "SUCCEEDED", result.failure_message
    # no fresh data once the budget is spent: the grace is for saving
    assert steps_in_log(result, "GRACE_BATCHES") == 0
    # every batch it trained on is counted, and the clock started with the training:
    # at the third batch (past the warm-up allowance), not at the first report 2 s later
    assert result.num_steps == steps_in_log(result, "REAL_BATCHES")
    assert result.total_tokens == result.num_steps * TOKENS_PER_BATCH
    assert result.training_seconds < 1.0 + 3.0  # budget + grace
    assert result.reported["num_steps"] < result.num_steps


@pytest.mark.parametrize("claim", ["CANCELLED", "WORKER_LOST", "TIMEOUT", "INTEGRITY"])
def test_a_forged_failure_reason_is_not_the_runs(run_source, claim):
    source = hooked(
        middle=f"send(ctx, {{'type': 'failed', 'reason': {claim!r}, 'message': 'not me'}})\n"
        "    os._exit(1)"
    )
    result = run_source(source)
    assert result.state == "FAILED"
    assert result.failure_reason == "CRASH"
    assert "only the supervisor decides" in result.failure_message
    assert result.reported["failure_reason"] == claim
    assert result.num_steps == 6
    assert result.compute_seconds == result.training_seconds > 0


def test_a_train_file_failure_label_is_kept(run_source):
    source = hooked(middle="raise FloatingPointError('loss blew up')")
    result = run_source(source)
    assert result.failure_reason == "DIVERGED", result.failure_message


def raw_frame(payload: bytes) -> str:
    return (
        "sock = ctx._channel.sock\n"
        f"    sock.sendall(struct.pack('!I', {len(payload)}) + {payload!r})\n"
        "    time.sleep(30)"
    )


def packed(message) -> bytes:
    import msgspec

    return msgspec.msgpack.encode(message)


MALFORMED = {
    "a list where the values belong": (
        packed({"type": "metric", "step": 3, "values": [1, 2]}),
        "Expected `object`, got `array`",
    ),
    "an infinite step": (
        packed({"type": "metric", "step": float("inf"), "values": {"loss": 1.0}}),
        "Expected `int`, got `float`",
    ),
    "a step as text": (
        packed({"type": "metric", "step": "7", "values": {"loss": 1.0}}),
        "Expected `int`, got `str`",
    ),
    "a huge metric name": (
        packed({"type": "metric", "step": 3, "values": {"x" * 10_000: 1.0}}),
        "length <= 64",
    ),
    "too many values": (
        packed({"type": "metric", "step": 3, "values": {f"m{i}": 1.0 for i in range(100)}}),
        "length <= 32",
    ),
    "an unknown message": (packed({"type": "pwn", "x": 1}), "Invalid value 'pwn'"),
    "an unknown field": (
        packed({"type": "metric", "step": 3, "values": {}, "wall": 1e18}),
        "unknown field `wall`",
    ),
    "a forged count out of range": (
        packed(
            {
                "type": "done",
                "steps": 10**18,
                "tokens": 0,
                "training_seconds": 0.0,
                "peak_memory_mb": 0.0,
            }
        ),
        "<= 1000000000000",
    ),
    "garbage bytes": (b"\xc1\xff\x00garbage", "undecodable"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_message_is_contract_and_the_figures_survive(run_source, case):
    payload, expected = MALFORMED[case]
    result = run_source(hooked(middle=raw_frame(payload)))
    assert result.failure_reason == "CONTRACT", result.failure_message
    assert "training channel" in result.failure_message
    assert expected in result.failure_message
    # the supervisor carried on and kept its own figures
    assert result.num_steps == 6
    assert result.total_tokens == 6 * TOKENS_PER_BATCH
    assert result.training_seconds > 0
    assert result.compute_seconds >= result.training_seconds


def test_an_oversized_frame_is_contract(run_source):
    source = hooked(
        middle="ctx._channel.sock.sendall(struct.pack('!I', 100 << 20) + b'x' * 1000)\n"
        "    time.sleep(30)"
    )
    result = run_source(source)
    assert result.failure_reason == "CONTRACT", result.failure_message
    assert "exceeds the limit" in result.failure_message


FLOOD = """
    t0 = time.monotonic()
    payload = msgspec.msgpack.encode(
        {"type": "metric", "step": 1, "values": {f"m{i}": 1.0 for i in range(32)}}
    )
    frame = struct.pack("!I", len(payload)) + payload
    while time.monotonic() - t0 < 10:
        ctx._channel.sock.sendall(frame * 100)
"""


def test_a_flood_of_metrics_is_contract_and_bounded(run_source, tmp_path):
    result = run_source(hooked(middle=FLOOD), budget_s=20.0)
    assert result.failure_reason == "CONTRACT", result.failure_message
    assert "flooded" in result.failure_message
    metrics = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) <= 100_000
    assert result.metrics_dropped + len(metrics) > 0
    json.loads(metrics[-1])
    assert result.num_steps == 6
