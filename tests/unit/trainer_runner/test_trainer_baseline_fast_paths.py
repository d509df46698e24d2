"""The baseline's CPU kernels compute exactly what the plain torch code above them computes,
and switch themselves off when an edit makes the plain code compute something else."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from trainer.baseline import BASELINE_PATH, baseline_source


def plain_softcap(logits, cap):
    return cap * torch.tanh(logits / cap) if cap else logits


def load_source(source, name="edited_baseline"):
    module = type(sys)(name)
    exec(compile(source, "train.py", "exec"), module.__dict__)
    return module


def random_model(baseline):
    torch.manual_seed(0)
    config = dict(vocab_size=50, seq_len=16, n_layer=2, n_head=2, n_embd=16, window_pattern="SL")
    model = baseline.build_model(config | {"short_window": 4})
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.5)
    return model


def loss_and_grads(model, x, y):
    loss = model(x, y)
    names = [name for name, _ in model.named_parameters()]
    grads = torch.autograd.grad(loss, model.parameters())
    return loss, dict(zip(names, grads, strict=True))


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
    model = random_model(baseline)
    x, y = torch.randint(0, 50, (3, 16)), torch.randint(0, 50, (3, 16))
    loss, fused = loss_and_grads(model, x, y)
    assert "SoftcapCrossEntropy" in loss.grad_fn.name()  # the kernel ran
    plain = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    torch.testing.assert_close(loss, plain)
    grads = torch.autograd.grad(plain, model.parameters())
    for (name, ours), reference in zip(fused.items(), grads, strict=True):
        torch.testing.assert_close(ours, reference, msg=name)


def test_fast_and_plain_paths_agree_on_the_whole_model(baseline, monkeypatch):
    model = random_model(baseline)
    x, y = torch.randint(0, 50, (3, 16)), torch.randint(0, 50, (3, 16))
    fast_loss, fast_grads = loss_and_grads(model, x, y)
    with torch.no_grad():
        fast_logits = model(x)
    monkeypatch.setattr(baseline, "FAST_CPU_KERNELS", False)
    plain_loss, plain_grads = loss_and_grads(model, x, y)
    assert "SoftcapCrossEntropy" not in plain_loss.grad_fn.name()  # the switch took effect
    with torch.no_grad():
        torch.testing.assert_close(model(x), fast_logits)
    torch.testing.assert_close(fast_loss, plain_loss)
    for name, grad in fast_grads.items():
        torch.testing.assert_close(grad, plain_grads[name], msg=name)


@pytest.mark.parametrize("cap", [15.0, 0.0])
def test_logits_kernel_matches_the_plain_logits_with_and_without_autograd(baseline, cap):
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(6, 8, generator=g) * 10, torch.randn(30, 8, generator=g)
    x_kept = x.clone()
    expected = plain_softcap(x @ w.t(), cap)
    with torch.no_grad():
        torch.testing.assert_close(baseline.head_logits_cpu(x, w, cap), expected)
    torch.testing.assert_close(baseline.head_logits_cpu(x, w, cap), expected)
    torch.testing.assert_close(baseline.head_logits(x, w, cap), expected)
    assert torch.equal(x, x_kept)


def test_cpu_rms_norm_matches_torch(baseline):
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(baseline.norm(x), F.rms_norm(x, (8,)))
    torch.testing.assert_close(baseline.RMSNormCPU.apply(x), F.rms_norm(x, (8,)))
    assert torch.autograd.gradcheck(baseline.RMSNormCPU.apply, (x,))


def test_kernels_work_when_evaluation_calls_them_first():
    # the evaluation child runs the model under inference_mode: the probe still decides
    module = load_source(baseline_source())
    model = random_model(module)
    x = torch.randint(0, 50, (2, 16))
    with torch.inference_mode():
        logits = model(x)
    module.FAST_CPU_KERNELS = False
    with torch.inference_mode():
        torch.testing.assert_close(model(x), logits)


EDITS_OF_THE_PLAIN_CODE = {
    "loss": (
        "return F.cross_entropy(head_logits(x, weight, cap), targets)",
        "return F.cross_entropy(head_logits(x, weight, cap), targets, label_smoothing=0.1)",
    ),
    "logits": (
        "return softcap(F.linear(x, weight).float(), cap)",
        "return softcap(F.linear(x, weight).float() * 2, cap)",
    ),
    "cap": (
        "return cap * torch.tanh(logits / cap) if cap else logits",
        "return logits.clamp(-cap, cap) if cap else logits",
    ),
    "norm": (
        "return F.rms_norm(x, (x.size(-1),))",
        "return F.rms_norm(x, (x.size(-1),)) * 1.5",
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS_OF_THE_PLAIN_CODE))
def test_an_edit_to_the_plain_code_takes_effect_on_cpu(edit, capsys):
    old, new = EDITS_OF_THE_PLAIN_CODE[edit]
    source = baseline_source()
    assert source.count(old) == 1
    edited = load_source(source.replace(old, new))
    model = random_model(edited)
    x, y = torch.randint(0, 50, (3, 16)), torch.randint(0, 50, (3, 16))
    loss, grads = loss_and_grads(model, x, y)
    assert "is off: it differs from the code above" in capsys.readouterr().out
    # what the edited plain code computes, every kernel switched off
    edited.FAST_CPU_KERNELS = False
    plain_loss, plain_grads = loss_and_grads(model, x, y)
    torch.testing.assert_close(loss, plain_loss)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain_grads[name], msg=name)


def test_the_kernels_section_may_be_deleted():
    source = baseline_source()
    cut = source[: source.index("# --- CPU kernels")]
    module = load_source(cut)
    model = random_model(module)
    x, y = torch.randint(0, 50, (3, 16)), torch.randint(0, 50, (3, 16))
    reference = load_source(source)
    torch.testing.assert_close(model(x, y), random_model(reference)(x, y))


def test_batched_newton_schulz_equals_one_by_one(baseline):
    g = torch.Generator().manual_seed(0)
    stack = torch.randn(3, 8, 24, generator=g)
    together = baseline.zeropower_via_newtonschulz5(stack, baseline.NS_STEPS)
    for i in range(3):
        one = baseline.zeropower_via_newtonschulz5(stack[i], baseline.NS_STEPS)
        torch.testing.assert_close(together[i], one)


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
