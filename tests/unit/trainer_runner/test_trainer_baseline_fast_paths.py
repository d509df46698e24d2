"""The baseline's CPU fast paths compute exactly what the plain formulation computes."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from trainer.baseline import BASELINE_PATH


def plain_softcap(logits, cap):
    return cap * torch.tanh(logits / cap) if cap else logits


@pytest.mark.parametrize("cap", [15.0, 0.0, 60.0])
def test_chunked_softcap_loss_matches_the_plain_loss_and_gradients(baseline, monkeypatch, cap):
    monkeypatch.setattr(baseline, "LOSS_CHUNK_ROWS", 7)  # several chunks, a ragged last one
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 8, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(30, 8, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 30, (20,), generator=g)
    fused = baseline.SoftcapCrossEntropy.apply(x, w, y, cap)
    fused_grads = torch.autograd.grad(3 * fused, (x, w))
    plain = F.cross_entropy(plain_softcap(x @ w.t(), cap), y)
    plain_grads = torch.autograd.grad(3 * plain, (x, w))
    torch.testing.assert_close(fused, plain)
    for ours, reference in zip(fused_grads, plain_grads, strict=True):
        torch.testing.assert_close(ours, reference)


def test_model_loss_path_matches_logits_path(baseline):
    torch.manual_seed(0)
    config = dict(vocab_size=50, seq_len=16, n_layer=2, n_head=2, n_embd=16, window_pattern="SL")
    model = baseline.build_model(config | {"short_window": 4})
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x, y = torch.randint(0, 50, (3, 16)), torch.randint(0, 50, (3, 16))
    loss = model(x, y)
    loss.backward()
    fused = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    plain = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    plain.backward()
    torch.testing.assert_close(loss, plain)
    for name, p in model.named_parameters():
        torch.testing.assert_close(fused[name], p.grad, msg=name)


def test_softcap_without_autograd_matches_tanh(baseline):
    logits = torch.randn(4, 100) * 40
    expected = plain_softcap(logits, 15.0)
    with torch.no_grad():
        torch.testing.assert_close(baseline.softcap(logits.clone(), 15.0), expected)
    torch.testing.assert_close(baseline.softcap(logits.clone(), 15.0), expected)


def test_cpu_rms_norm_matches_torch(baseline):
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(baseline.norm(x), F.rms_norm(x, (8,)))
    assert torch.autograd.gradcheck(baseline.RMSNormCPU.apply, (x,))


def test_batched_newton_schulz_equals_one_by_one(baseline):
    g = torch.Generator().manual_seed(0)
    stack = torch.randn(3, 8, 24, generator=g)
    together = baseline.zeropower_via_newtonschulz5(stack)
    for i in range(3):
        torch.testing.assert_close(together[i], baseline.zeropower_via_newtonschulz5(stack[i]))


def test_building_the_optimizer_does_not_import_dynamo():
    # torch.optim.Optimizer's constructor imports torch._dynamo: ~2 s of every run's start-up
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('train', {str(BASELINE_PATH)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "model = m.build_model(dict(vocab_size=32, seq_len=8, n_layer=1, n_head=1, n_embd=8))\n"
        "m.build_optimizer(model)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False", done.stdout + done.stderr
