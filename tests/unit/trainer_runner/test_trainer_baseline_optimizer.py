"""The optimizer written into the baseline train.py, on tiny shapes."""

import pytest
import torch
import torch.nn.functional as F


@pytest.mark.parametrize("shape", [(16, 16), (32, 8), (8, 48)])
def test_newton_schulz_output_is_near_orthogonal(baseline, shape):
    g = torch.Generator().manual_seed(0)
    G = torch.randn(*shape, generator=g)
    X = baseline.zeropower_via_newtonschulz5(G, baseline.NS_STEPS)
    singular = torch.linalg.svdvals(X)
    # the quintic trades exactness for speed: singular values land in a band around 1
    assert singular.min() > 0.6 and singular.max() < 1.25, singular
    # and it keeps the singular vectors: X is close to U V^T of G
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    cosine = (X * (U @ Vh)).sum() / (X.norm() * (U @ Vh).norm())
    assert cosine > 0.95


def test_adamw_part_matches_torch_adamw(baseline):
    torch.manual_seed(0)
    p_ours = torch.nn.Parameter(torch.randn(5, 7))
    p_ref = torch.nn.Parameter(p_ours.detach().clone())
    lr, wd, betas, eps = 1e-2, 0.1, (0.8, 0.95), 1e-8
    ours = baseline.MuonAdamW(
        [dict(kind="adamw", params=[p_ours], lr=lr, weight_decay=wd, betas=betas, eps=eps)]
    )
    ref = torch.optim.AdamW([p_ref], lr=lr, weight_decay=wd, betas=betas, eps=eps)
    for step in range(20):
        grad = torch.randn(5, 7, generator=torch.Generator().manual_seed(step))
        p_ours.grad, p_ref.grad = grad.clone(), grad.clone()
        ours.step()
        ref.step()
    torch.testing.assert_close(p_ours, p_ref, rtol=1e-5, atol=1e-6)


def test_muon_step_moves_matrix_by_an_orthogonal_update(baseline):
    p = torch.nn.Parameter(torch.zeros(8, 8))
    group = dict(kind="muon", params=[p], lr=0.1, momentum=0.0, ns_steps=baseline.NS_STEPS)
    opt = baseline.MuonAdamW([group])
    p.grad = torch.randn(8, 8, generator=torch.Generator().manual_seed(1))
    opt.step()
    singular = torch.linalg.svdvals(-p.detach() / 0.1)
    assert singular.min() > 0.6 and singular.max() < 1.25


def test_tiny_model_loss_falls(baseline):
    torch.manual_seed(0)
    config = dict(vocab_size=64, seq_len=32, n_layer=2, n_head=2, n_embd=32, short_window=8)
    model = baseline.build_model(config)
    opt = baseline.build_optimizer(model)
    data = torch.randint(0, 64, (4, 33), generator=torch.Generator().manual_seed(0))
    x, y = data[:, :-1], data[:, 1:]
    losses = []
    for _ in range(40):
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, 64), y.reshape(-1))
        loss.backward()
        opt.step()
        model.zero_grad(set_to_none=True)
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_model_is_causal_and_shaped(baseline):
    config = dict(vocab_size=50, seq_len=16, n_layer=4, n_head=2, n_embd=16, short_window=4)
    model = baseline.build_model(config).eval()
    torch.manual_seed(0)
    # zero-initialised projections would hide any leak: randomise every weight
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.5)
    idx = torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        logits = model(idx)
        changed = idx.clone()
        changed[:, 10:] = (changed[:, 10:] + 1) % 50
        logits2 = model(changed)
    assert logits.shape == (2, 16, 50)
    torch.testing.assert_close(logits[:, :10], logits2[:, :10])
    assert (logits[:, 10:] - logits2[:, 10:]).abs().max() > 1e-3


def test_lr_schedule_warms_down_to_zero(baseline):
    assert baseline.get_lr_multiplier(0.0) == 1.0
    assert baseline.get_lr_multiplier(0.49) == 1.0
    assert baseline.get_lr_multiplier(0.75) == pytest.approx(0.5)
    assert baseline.get_lr_multiplier(1.0) == pytest.approx(0.0)
