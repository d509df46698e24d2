"""The supervisor's chunked float32 cross-entropy against float64 F.cross_entropy."""

import pytest
import torch
import torch.nn.functional as F

from trainer.runner import evaluation
from trainer.runner.evaluation import CrossEntropyReducer


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(evaluation, "REDUCE_CHUNK_TOKENS", 5)  # ragged chunks across rows


def make_case(seed=0, rows=3, T=7, V=11):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, T, V, generator=g) * 4 + 50  # an offset: the max must be taken
    targets = torch.randint(0, V, (rows, T), generator=g)
    token_bytes = torch.randint(1, 4, (V,), generator=g)
    token_bytes[3] = 0  # a special token: excluded from both sums
    return logits, targets, token_bytes


def test_sums_match_float64_cross_entropy(small_chunks):
    logits, targets, token_bytes = make_case()
    reducer = CrossEntropyReducer(token_bytes, logits.size(-1))
    for _ in range(2):  # buffers reused across batches
        nats, nbytes, ntokens, bad = reducer.sums(logits, targets)
    nll = F.cross_entropy(logits.flatten(0, 1).double(), targets.flatten(), reduction="none")
    counted = token_bytes[targets.flatten()] > 0
    assert bad is None
    assert ntokens == int(counted.sum()) < targets.numel()
    assert nbytes == int(token_bytes[targets.flatten()].sum())
    assert nats == pytest.approx(float(nll[counted].sum()), rel=1e-6)


def test_a_non_finite_logit_is_located(small_chunks):
    logits, targets, token_bytes = make_case(rows=2, T=6)
    targets[targets == 3] = 4  # every position counted
    logits[1, 4, 0] = float("nan")
    _, _, _, bad = CrossEntropyReducer(token_bytes, logits.size(-1)).sums(logits, targets)
    assert bad == (1, 4)


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with evaluation.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
