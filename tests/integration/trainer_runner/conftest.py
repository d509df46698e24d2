"""A tiny harness (built once per session) and a helper to run a train file on it."""

import os
import random
from pathlib import Path

import pytest

from trainer.data.prepare import prepare
from trainer.runner import RunConfig, run

WORDS = (
    "the cat sat on a mat while dogs ran around the quick brown fox jumps over lazy "
    "river stone bright morning light falls softly across quiet green hills"
).split()

# A model that scores fast and learns: one embedding row of logits per token.
BIGRAM = """
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


def train(ctx):
    torch.manual_seed(ctx.seed)
    model = build_model({"vocab_size": ctx.vocab_size})
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for step, (x, y) in enumerate(ctx.train_batches(8, ctx.seq_len)):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
        ctx.report(step, loss=loss.item())
        if ctx.should_stop() or step >= 30:
            break
    ctx.save(model, {"vocab_size": ctx.vocab_size})
"""


@pytest.fixture(scope="session")
def bigram() -> str:
    return BIGRAM


@pytest.fixture(scope="session")
def harness_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("harness")
    rng = random.Random(0)
    corpus = root / "corpus.txt"
    docs = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80))) for _ in range(600))
    corpus.write_text("\n\n".join(docs))
    prepare([corpus], root / "h", vocab_size=300, val_tokens=1024, seq_len=64, time_budget_s=2)
    return root / "h"


@pytest.fixture
def run_source(harness_dir, tmp_path):
    """run(train_source, **RunConfig overrides) on the tiny harness, CPU, one thread."""

    def go(source: str, **overrides):
        settings = dict(
            harness_dir=str(harness_dir),
            train_source=source,
            budget_s=1.0,
            out_dir=str(tmp_path / "out"),
            threads=1,
            startup_allowance_s=60.0,  # importing torch takes seconds on a busy 2-core box
            grace_s=2.0,
            memory_limit_mb=4096,
        )
        settings.update(overrides)
        return run(RunConfig(**settings))

    yield go
    # the runner leaves nothing behind: no process still works in the run's directory
    leftovers = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if cwd.startswith(str(tmp_path)):
                leftovers.append(pid)
    assert not leftovers, f"sandboxed processes survived the run: {leftovers}"
