"""Attacks on the evaluation from inside a sealed child (issue 9): each is caught.

The primary scores every row once; an auditor in another process re-scores a secret
subset in another order and composition, some rows with spliced tails. These models
cheat only in `eval()` mode (the evaluation child), so that they still train normally.
"""

import json
import threading

import pytest
import torch

from trainer.baseline import baseline_source
from trainer.data.harness import Harness
from trainer.runner import RunConfig
from trainer.runner.audit import tolerance_for
from trainer.runner.deadlines import Allowance, Clock
from trainer.runner.evaluation import Evaluator
from trainer.runner.supervisor import _Run

# small batches: the tiny harness (16 rows of 64 tokens) is scored in 4 batches of 4 rows;
# a fixed audit draw, so that a test cannot pass or fail by the luck of the draw
EVAL = dict(eval_batch_rows=4, audit_seed=1)


def with_forward(bigram: str, body: str) -> str:
    """The tiny bigram whose forward in eval mode is `body` (idx, V, honest in scope)."""
    indented = "\n".join("        " + line for line in body.strip().splitlines())
    return bigram.replace(
        "        return self.table(idx)",
        "        honest = self.table(idx)\n"
        "        if self.training:\n"
        "            return honest\n"
        "        V = self.table.num_embeddings\n" + indented,
    )


# Peeks at the next token, and remembers every row it scored: a row that shares a prefix
# with one seen before gets the remembered logits on that prefix (so a re-score of a
# known row, or of a row with a changed tail, looks perfectly consistent).
PEEK_AND_CACHE = """
peek = honest + 20 * F.one_hot(torch.roll(idx, -1, dims=1), V)
cache = self.__dict__.setdefault("cache", [])
out = peek.clone()
for r in range(idx.size(0)):
    best, best_len = None, 0
    for row, logits in cache:
        common = int((row == idx[r]).int().cumprod(0).sum())
        if common > best_len:
            best, best_len = logits, common
    if best is not None:
        out[r, :best_len] = best[:best_len]
    cache.append((idx[r].clone(), out[r].clone()))
return out
"""

# Learns bigram statistics from the validation inputs it has scored so far (test-time
# learning), and answers repeated or perturbed rows from its memory, as above.
LEARN_FROM_VALIDATION = """
counts = self.__dict__.setdefault("counts", torch.zeros(V, V))
learned = honest + 2 * torch.log1p(counts[idx])
cache = self.__dict__.setdefault("cache", [])
out = learned.clone()
for r in range(idx.size(0)):
    best, best_len = None, 0
    for row, logits in cache:
        common = int((row == idx[r]).int().cumprod(0).sum())
        if common > best_len:
            best, best_len = logits, common
    if best_len > 8:
        out[r, :best_len] = best[:best_len]
    cache.append((idx[r].clone(), out[r].clone()))
counts.index_put_((idx[:, :-1].flatten(), idx[:, 1:].flatten()), torch.ones(idx[:, 1:].numel()), accumulate=True)
return out
"""


def leak(epsilon: float) -> str:
    """Adds `epsilon` to the logit of the true next token: a peek below a tolerance."""
    return f"return honest + {epsilon!r} * F.one_hot(torch.roll(idx, -1, dims=1), V)"


def test_peeking_model_that_caches_inputs_fails_integrity(run_source, bigram):
    result = run_source(with_forward(bigram, PEEK_AND_CACHE), **EVAL)
    assert result.failure_reason == "INTEGRITY", (result.val_bpb, result.integrity)
    assert result.integrity["audit"]["worst"]["abs_diff"] > 1


def test_model_learning_from_validation_inputs_fails_integrity(run_source, bigram):
    result = run_source(with_forward(bigram, LEARN_FROM_VALIDATION), **EVAL)
    assert result.failure_reason == "INTEGRITY", (result.val_bpb, result.integrity)
    assert result.integrity["audit"]["worst"]["abs_diff"] > 1e-3


def test_leak_just_under_the_old_cpu_tolerance_fails_integrity(run_source, bigram):
    result = run_source(with_forward(bigram, leak(0.00099)), **EVAL)
    assert result.failure_reason == "INTEGRITY", (result.val_bpb, result.integrity)
    assert result.integrity["audit"]["worst"]["abs_diff"] > result.integrity["audit"]["tolerance"]


def test_leak_of_a_tenth_of_the_tolerance_fails_integrity(run_source, bigram):
    from trainer.runner.audit import tolerance_for

    epsilon = tolerance_for("cpu").tolerance / 10
    result = run_source(with_forward(bigram, leak(epsilon)), **EVAL)
    assert result.failure_reason == "INTEGRITY", (result.val_bpb, result.integrity)
    gain = result.integrity["audit"]["cut_gain"]
    assert gain["mean"] > gain["threshold"]


# Keeps training on the evaluation side: more steps on a tensor it carries in its own
# code (any data would do), for longer than an honest load or forward could take.
EXTRA_TRAINING = """
def extra_training(model, seconds):
    import time
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        x = torch.randint(0, model.table.num_embeddings, (8, 64), generator=g)
        loss = F.cross_entropy(model.table(x).flatten(0, 1), x.roll(-1, 1).flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
"""


def training_in_build_model(bigram: str, seconds: float) -> str:
    source = bigram.replace(
        "def build_model(config):", EXTRA_TRAINING + "\ndef build_model(config):"
    )
    return source.replace(
        '    return Bigram(config["vocab_size"])',
        '    model = Bigram(config["vocab_size"])\n'
        '    if config.get("evaluating"):\n'
        "        model.load_state_dict = lambda state, strict=True: extra_training(\n"
        "            (nn.Module.load_state_dict(model, state, strict), model)[1], "
        f"{seconds!r})\n"
        "    return model",
    ).replace(
        'ctx.save(model, {"vocab_size": ctx.vocab_size})',
        'ctx.save(model, {"vocab_size": ctx.vocab_size, "evaluating": 1})',
    )


def training_in_forward(bigram: str, seconds: float) -> str:
    source = bigram.replace(
        "def build_model(config):", EXTRA_TRAINING + "\ndef build_model(config):"
    )
    return with_forward(
        source,
        "if not getattr(self, 'trained_more', False):\n"
        "    with torch.inference_mode(False), torch.enable_grad():\n"
        f"        extra_training(self, {seconds!r})\n"
        "    self.trained_more = True\n"
        "return self.table(idx)",
    )


@pytest.mark.slow  # waits out a 10 CPU-second allowance
def test_training_in_build_model_times_out(run_source, bigram):
    result = run_source(training_in_build_model(bigram, 60.0), **EVAL)
    assert result.failure_reason == "TIMEOUT", (result.val_bpb, result.failure_message)
    deadline = result.integrity["deadline"]
    assert deadline["phase"] == "load" and deadline["allowed_cpu_seconds"] < 30
    assert deadline["cpu_seconds"] > deadline["allowed_cpu_seconds"]  # its CPU time, not load


@pytest.mark.slow  # waits out a 5 CPU-second allowance
def test_training_in_the_evaluation_forward_times_out(run_source, bigram):
    result = run_source(training_in_forward(bigram, 60.0), **EVAL)
    assert result.failure_reason == "TIMEOUT", (result.val_bpb, result.failure_message)
    deadline = result.integrity["deadline"]
    assert deadline["phase"] == "scoring" and deadline["allowed_cpu_seconds"] < 30
    assert deadline["cpu_seconds"] > deadline["allowed_cpu_seconds"]


def test_honest_baseline_passes_twenty_audit_draws(harness_dir, tmp_path):
    """One tiny baseline checkpoint, evaluated by the same two children under 20 audit
    draws (plans, splices, roles): never a false INTEGRITY, always the same val_bpb."""
    namespace: dict = {}
    exec(compile(baseline_source(), "train.py", "exec"), namespace)
    config = {
        "vocab_size": 300,
        "seq_len": 64,
        "n_layer": 2,
        "n_head": 2,
        "n_embd": 64,
        "window_pattern": "L",
        "short_window": 16,
        "logit_cap": 15.0,
    }
    torch.manual_seed(0)
    model = namespace["build_model"](config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # not the (symmetric) initial weights
    out = tmp_path / "out"  # as a finished training leaves it: the trusted checkpoint copy
    out.mkdir()
    (out / "checkpoint.json").write_text(json.dumps(config))
    torch.save(model.state_dict(), out / "checkpoint.pt")
    cfg = RunConfig(
        harness_dir=str(harness_dir),
        train_source=baseline_source(),
        budget_s=1.0,
        out_dir=str(out),
        threads=1,
        memory_limit_mb=4096,
        eval_batch_rows=4,
    )
    scoring = _Run(cfg, None, None, threading.Event()).scoring
    harness = Harness.load(harness_dir)
    tolerance = tolerance_for("cpu").tolerance
    values, cuts = [], 0
    scoring.start_eval_child()
    clock = Clock()
    generous = Allowance.derive("cpu", 1, 10**6, 0, 10**6, 60.0)
    links: list = []
    try:
        scoring.load_eval_children(scoring.eval_pairs(), 4, clock, generous, links)
        for seed in range(20):
            evaluator = Evaluator(
                harness.val_rows_array(),
                harness.token_bytes(),
                harness.vocab_size,
                harness.bos_token_id,
                4,
                tolerance,
                seed=seed,
            )
            clock.start("scoring", 120.0)
            outcome = evaluator.run(links[0], links[1], clock)  # raises on any INTEGRITY
            audit = outcome.integrity["audit"]
            assert audit["worst"]["abs_diff"] <= tolerance and audit["spliced_rows"] >= 2
            values.append(outcome.val_bpb)
            cuts += audit["cut_gain"]["cuts"]
    finally:
        for link in links:
            link.buffers.close()
        scoring.stop_eval_child()
    assert len(set(values)) == 1, values  # order and composition do not change the metric
    assert cuts >= 40


def test_an_evaluation_child_cannot_choose_its_failure_reason(run_source, bigram):
    forge = """
def build_model(config):
    if config.get("evaluating"):
        import sys
        from trainer.runner.channel import Channel
        Channel.from_fd(int(sys.argv[1])).send(
            {"type": "failed", "reason": "CANCELLED", "message": "nothing to see"}
        )
        sys.exit(0)
    return Bigram(config["vocab_size"])
"""
    source = bigram.replace("def build_model(config):\n", forge + "\ndef _unused(config):\n")
    source = source.replace(
        'ctx.save(model, {"vocab_size": ctx.vocab_size})',
        'ctx.save(model, {"vocab_size": ctx.vocab_size, "evaluating": 1})',
    )
    result = run_source(source, **EVAL)
    assert (result.state, result.failure_reason) == ("FAILED", "CRASH"), result.failure_message
