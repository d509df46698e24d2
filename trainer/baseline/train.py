"""Baseline train.py: a small modern GPT trained for a fixed time budget.

The contract (Loopy SPEC §3): `build_model(config) -> nn.Module` whose
forward(idx [B, T]) returns causal logits [B, T, vocab], and `train(ctx)`, the
training loop, which ends with `ctx.save(model, config)`. The runner evaluates
the saved model itself; this file never sees the validation data.

Read top to bottom: hyper-parameters, model, optimizer, schedule, training loop
(and on a CPU track a last, optional section of fast CPU kernels). `ctx.options`
may override any UPPER_CASE constant by name (the tests use it to shrink the
model), e.g. {"DEPTH": 2}.
"""

import gc
import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- Hyper-parameters ---------------------------------------------------------
# Sized for this track's device class; the sequence length and the vocabulary come
# from the harness (ctx).

# model shape
DEPTH = 4  # transformer blocks
ASPECT_RATIO = 32  # model width = DEPTH * ASPECT_RATIO
HEAD_DIM = 32  # channels per attention head
# per layer, cycled: S = sliding window, L = full causal. A window pays off at long
# sequences on a GPU; on a CPU a masked attention is slower than the causal kernel.
WINDOW_PATTERN = "L"
SHORT_WINDOW_FRACTION = 0.25  # S-layer window, as a fraction of the sequence length
LOGIT_CAP = 15.0  # soft cap on output logits: cap * tanh(logits / cap); 0 = no cap

# batch
TOTAL_BATCH_SIZE = 2**11  # tokens per optimizer step
DEVICE_BATCH_SIZE = 8  # rows per forward/backward pass

# optimizer
MATRIX_LR = 0.04  # Muon, for the 2-D weights inside the blocks
EMBEDDING_LR = 0.6  # AdamW, token embedding
UNEMBEDDING_LR = 0.004  # AdamW, lm_head
SCALAR_LR = 0.04  # AdamW, per-layer residual scalars
WEIGHT_DECAY = 0.0  # decoupled, on Muon matrices only (times lr)
ADAM_BETAS = (0.8, 0.95)
MUON_MOMENTUM_START = 0.85  # Nesterov momentum of the first step, raised linearly
MUON_MOMENTUM = 0.95  # to this over MUON_MOMENTUM_WARMUP_STEPS
MUON_MOMENTUM_WARMUP_STEPS = 300  # optimizer steps
NS_STEPS = 5  # Newton-Schulz iterations per Muon update

# schedule, as fractions of the time budget (ctx.progress() runs 0 -> 1)
WARMUP_RATIO = 0.0
WARMDOWN_RATIO = 0.5  # linear decay to FINAL_LR_FRAC over the last half
FINAL_LR_FRAC = 0.0

# runtime
COMPILE = False  # torch.compile the model (the first steps pay for the compilation)


def apply_overrides(options):
    """Replace UPPER_CASE constants by name from ctx.options (unknown names are an error)."""
    for name, value in options.items():
        if not name.isupper() or name not in globals():
            raise KeyError(f"unknown hyper-parameter override {name!r}")
        globals()[name] = type(globals()[name])(value) if globals()[name] is not None else value


# --- Model --------------------------------------------------------------------


@dataclass
class GPTConfig:
    vocab_size: int = 8192
    seq_len: int = 2048  # longest sequence the rotary table covers
    n_layer: int = 8
    n_head: int = 4
    n_embd: int = 512
    window_pattern: str = "SSSL"
    short_window: int = 512  # tokens an S-layer position may look back over
    logit_cap: float = 15.0


def norm(x):
    # parameter-free RMSNorm: the learnable gains add little at this scale
    return F.rms_norm(x, (x.size(-1),))


def apply_rotary(x, cos, sin):
    # x: [B, H, T, D]; rotate the two halves of each head by position-dependent angles
    d = x.size(-1) // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config, window):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.window = window  # None = full causal attention
        self.c_q = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_k = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_v = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(self, x, cos, sin, window_mask):
        B, T, C = x.size()
        # one matmul for q, k and v (three separate weights, so Muon sees three matrices)
        weight = torch.cat([self.c_q.weight, self.c_k.weight, self.c_v.weight])
        qkv = F.linear(x, weight).view(B, T, 3, self.n_head, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, T, D]
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        q, k = norm(q), norm(k)  # QK-norm keeps attention logits bounded
        if self.window is None or self.window >= T:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=window_mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x):
        x = self.c_fc(x)
        x = F.relu(x).square()  # ReLU^2: cheap and a little better than GELU here
        return self.c_proj(x)


class Block(nn.Module):
    def __init__(self, config, window):
        super().__init__()
        self.attn = CausalSelfAttention(config, window)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, window_mask):
        x = x + self.attn(norm(x), cos, sin, window_mask)
        x = x + self.mlp(norm(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(
            [Block(config, self.window_for_layer(i, config)) for i in range(config.n_layer)]
        )
        # learnable per-layer mix of the residual stream and the first embedding
        self.resid_lambdas = nn.Parameter(torch.ones(config.n_layer))
        self.x0_lambdas = nn.Parameter(torch.zeros(config.n_layer))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # untied
        head_dim = config.n_embd // config.n_head
        inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.outer(torch.arange(config.seq_len).float(), inv_freq)
        self.register_buffer("cos", angles.cos()[None, None], persistent=False)
        self.register_buffer("sin", angles.sin()[None, None], persistent=False)
        self.init_weights()

    @staticmethod
    def window_for_layer(i, config):
        kind = config.window_pattern[i % len(config.window_pattern)]
        # the last layer always sees the whole context
        return None if kind == "L" or i == config.n_layer - 1 else config.short_window

    @torch.no_grad()
    def init_weights(self):
        nn.init.normal_(self.wte.weight, std=1.0)
        nn.init.normal_(self.lm_head.weight, std=0.001)
        bound = 3**0.5 * self.config.n_embd**-0.5  # uniform with std 1/sqrt(fan_in)
        for block in self.blocks:
            for lin in (block.attn.c_q, block.attn.c_k, block.attn.c_v, block.mlp.c_fc):
                nn.init.uniform_(lin.weight, -bound, bound)
            # zero output projections: every block starts as the identity
            nn.init.zeros_(block.attn.c_proj.weight)
            nn.init.zeros_(block.mlp.c_proj.weight)

    def window_mask(self, T, device):
        i = torch.arange(T, device=device)
        offset = i[:, None] - i[None, :]
        return (offset >= 0) & (offset < self.config.short_window)

    def forward(self, idx, targets=None):
        """Logits [B, T, vocab]; or, given targets [B, T], the mean cross-entropy loss."""
        T = idx.size(1)
        cos, sin = self.cos[:, :, :T].to(idx.device), self.sin[:, :, :T].to(idx.device)
        windowed = any(b.attn.window is not None and b.attn.window < T for b in self.blocks)
        mask = self.window_mask(T, idx.device) if windowed else None
        x = x0 = norm(self.wte(idx))
        for i, block in enumerate(self.blocks):
            x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            x = block(x, cos, sin, mask)
        x = norm(x)
        cap = self.config.logit_cap
        if targets is None:
            return head_logits(x, self.lm_head.weight, cap)
        return head_loss(x.flatten(0, 1), self.lm_head.weight, targets.flatten(), cap)


def softcap(logits, cap):
    """cap * tanh(logits / cap): logits bounded smoothly to (-cap, cap); cap 0 = no cap."""
    return cap * torch.tanh(logits / cap) if cap else logits


def head_logits(x, weight, cap):
    """The output logits, soft-capped: softcap(x @ weight^T) in float32."""
    return softcap(F.linear(x, weight).float(), cap)


def head_loss(x, weight, targets, cap):
    """Mean cross-entropy of head_logits(x [N, C]) against targets [N]."""
    return F.cross_entropy(head_logits(x, weight, cap), targets)


def build_model(config: dict) -> nn.Module:
    return GPT(GPTConfig(**config))


# --- Optimizer ----------------------------------------------------------------
# Muon for the 2-D matrices inside the blocks: momentum, then replace the update
# by the nearest semi-orthogonal matrix (Newton-Schulz on its polar factor), so
# every direction moves at the same rate. AdamW for embedding, head and scalars.


def zeropower_via_newtonschulz5(G, steps):
    """Approximate the orthogonal polar factor U V^T of G (singular values pushed near 1).

    G is one matrix [m, n] or a stack of them [k, m, n] (orthogonalised one by one).
    """
    assert G.ndim in (2, 3)
    a, b, c = 3.4445, -4.7750, 2.0315  # quintic tuned to converge fast, not exactly to 1
    X = G.bfloat16() if G.is_cuda else G.float()
    X = X if X.ndim == 3 else X.unsqueeze(0)
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)  # spectral <= Frobenius norm <= 1
    for _ in range(steps):
        A = X @ X.mT
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # b * A + c * A @ A
        X = torch.baddbmm(X, B, X, beta=a)  # a * X + B @ X
    if transposed:
        X = X.mT
    return X.reshape(G.shape).to(G.dtype)


class MuonAdamW:
    """One optimizer, two update rules, chosen per parameter group by group["kind"].

    A plain class on purpose: torch.optim.Optimizer's constructor imports torch._dynamo,
    about 2 s of start-up on a small CPU, for features this loop does not use.
    """

    def __init__(self, param_groups):
        # muon groups also carry momentum and ns_steps, adamw groups betas: see build_optimizer
        defaults = dict(lr=0.0, weight_decay=0.0, eps=1e-10)
        self.param_groups = [defaults | dict(group) for group in param_groups]
        for group in self.param_groups:
            group["params"] = list(group["params"])
            group.setdefault("initial_lr", group["lr"])
        self.state = {}  # parameter -> its buffers

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            if group["kind"] == "muon":
                self.muon_step(group)
            else:
                self.adamw_step(group)

    def muon_step(self, group):
        lr, wd, momentum = group["lr"], group["weight_decay"], group["momentum"]
        same_shape = {}  # orthogonalised together: one batched matmul instead of many small
        for p in group["params"]:
            if p.grad is not None:
                same_shape.setdefault(p.shape, []).append(p)
        for shape, params in same_shape.items():
            updates = []
            for p in params:
                state = self.state.setdefault(p, {})
                if not state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - momentum)
                updates.append(p.grad.lerp(buf, momentum))  # Nesterov
            orthogonal = zeropower_via_newtonschulz5(torch.stack(updates), group["ns_steps"])
            # tall matrices: keep the per-element update size comparable to square ones
            scale = max(1.0, shape[0] / shape[1]) ** 0.5
            for p, update in zip(params, orthogonal.unbind(0), strict=True):
                p.mul_(1 - lr * wd)
                p.add_(update, alpha=-lr * scale)

    def adamw_step(self, group):
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            bias1, bias2 = 1 - beta1**t, 1 - beta2**t
            denom = (v.sqrt() / math.sqrt(bias2)).add_(eps)
            p.mul_(1 - lr * wd)
            p.addcdiv_(m, denom, value=-lr / bias1)


def build_optimizer(model):
    matrices = [p for p in model.blocks.parameters() if p.ndim == 2]
    scalars = [model.resid_lambdas, model.x0_lambdas]
    # AdamW learning rates were tuned at width 768; scale them like 1/sqrt(width)
    width_scale = (model.config.n_embd / 768) ** -0.5
    muon = dict(kind="muon", momentum=get_muon_momentum(0), ns_steps=NS_STEPS)
    adamw = dict(kind="adamw", betas=ADAM_BETAS)
    groups = [
        muon | dict(params=matrices, lr=MATRIX_LR, weight_decay=WEIGHT_DECAY),
        adamw | dict(params=[model.wte.weight], lr=EMBEDDING_LR * width_scale),
        adamw | dict(params=[model.lm_head.weight], lr=UNEMBEDDING_LR * width_scale),
        adamw | dict(params=scalars, lr=SCALAR_LR),
    ]
    return MuonAdamW(groups)


# --- Schedule -----------------------------------------------------------------


def get_lr_multiplier(progress):
    """Learning-rate multiplier for the fraction of the time budget already spent."""
    if progress < WARMUP_RATIO:
        return (progress + 1e-8) / WARMUP_RATIO
    if progress < 1.0 - WARMDOWN_RATIO or WARMDOWN_RATIO <= 0:
        return 1.0
    cooldown = max(0.0, 1.0 - progress) / WARMDOWN_RATIO
    return cooldown + (1.0 - cooldown) * FINAL_LR_FRAC


def get_muon_momentum(step):
    frac = min(step / MUON_MOMENTUM_WARMUP_STEPS, 1.0) if MUON_MOMENTUM_WARMUP_STEPS > 0 else 1.0
    return (1 - frac) * MUON_MOMENTUM_START + frac * MUON_MOMENTUM


# --- Training loop ------------------------------------------------------------


def flops_per_token(model):
    """Matmul FLOPs of one forward+backward per token (6 per weight, plus attention)."""
    c = model.config
    n_matmul = sum(p.numel() for p in model.blocks.parameters()) + model.lm_head.weight.numel()
    attention = 0
    for i in range(c.n_layer):
        window = GPT.window_for_layer(i, c) or c.seq_len
        attention += 12 * c.n_embd * min(window, c.seq_len) // 2  # causal: half the keys
    return 6 * n_matmul + attention


def train(ctx):
    apply_overrides(ctx.options)
    torch.manual_seed(ctx.seed)
    device = torch.device(ctx.device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    T = ctx.seq_len
    n_embd = DEPTH * ASPECT_RATIO
    config = GPTConfig(
        vocab_size=ctx.vocab_size,
        seq_len=T,
        n_layer=DEPTH,
        n_head=max(1, n_embd // HEAD_DIM),
        n_embd=n_embd,
        window_pattern=WINDOW_PATTERN,
        short_window=max(1, int(T * SHORT_WINDOW_FRACTION)),
        logit_cap=LOGIT_CAP,
    )
    model = build_model(asdict(config)).to(device)
    optimizer = build_optimizer(model)
    forward = torch.compile(model) if COMPILE else model
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on_cuda)

    rows = max(1, min(DEVICE_BATCH_SIZE, TOTAL_BATCH_SIZE // T))
    grad_accum = max(1, TOTAL_BATCH_SIZE // (rows * T))
    batches = ctx.train_batches(rows, T)
    flops_per_step = flops_per_token(model) * rows * T * grad_accum
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params: {n_params / 1e6:.2f}M, config: {asdict(config)}")
    print(f"batch: {rows} x {T} tokens x {grad_accum} accumulation steps")

    step = 0
    smooth_loss = 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(grad_accum):
            batch = next(batches, None)
            if batch is None:  # the budget is spent: the supervisor serves no more data
                break
            x, y = batch
            with autocast:
                loss = forward(x, y)
            (loss / grad_accum).backward()
        if batch is None:
            break  # a partial accumulation is dropped: the model is that of the last step
        lrm = get_lr_multiplier(ctx.progress())
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * lrm
            if group["kind"] == "muon":
                group["momentum"] = get_muon_momentum(step)
        optimizer.step()
        model.zero_grad(set_to_none=True)

        loss_value = loss.item()  # also waits for the GPU, so dt is honest
        dt = time.perf_counter() - t0
        smooth_loss = 0.9 * smooth_loss + 0.1 * loss_value
        extra = dict(lr_multiplier=lrm, tokens_per_second=rows * T * grad_accum / dt)
        if ctx.peak_flops:
            extra["mfu_percent"] = 100 * flops_per_step / dt / ctx.peak_flops
        ctx.report(step, loss=loss_value, **extra)  # a NaN or exploding loss ends the run here
        if step % 25 == 0:
            debiased = smooth_loss / (1 - 0.9 ** (step + 1))
            print(f"step {step:05d} | loss {debiased:.4f} | lrm {lrm:.2f} | dt {dt * 1000:.0f} ms")
        if step == 0:
            # the first step allocated everything long-lived; GC pauses would only cost time
            gc.collect()
            gc.freeze()
            gc.disable()
        step += 1
        if ctx.should_stop():
            break

    ctx.save(model, asdict(config))


# --- CPU kernels: the same math, faster ----------------------------------------
# norm(), head_logits() and head_loss() above, rewritten for eager CPU training, where
# autograd would otherwise make many passes over memory. They compute the same math,
# and each is used only while it agrees with its plain function on a small probe
# (value and gradients): edit the plain code above and that kernel turns itself off,
# with a line in the log, rather than silently training something else.
# FAST_CPU_KERNELS = False, or deleting this section, runs the plain code everywhere.

FAST_CPU_KERNELS = True
LOSS_CHUNK_ROWS = 256  # rows per chunk of head_loss's kernel (its logits stay in cache)


class RMSNormCPU(torch.autograd.Function):
    """norm(): F.rms_norm's math with a hand-written backward (autograd's takes 3-4x longer)."""

    @staticmethod
    def forward(ctx, x):
        d = x.size(-1)
        mean_square = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(d)
        r = mean_square.add_(torch.finfo(x.dtype).eps).rsqrt_()
        y = x * r
        ctx.save_for_backward(y, r)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, r = ctx.saved_tensors
        # d/dx of x * rsqrt(mean(x^2) + eps) is r * (g - y * mean(g * y))
        mean_gy = torch.linalg.vecdot(grad, y, dim=-1).unsqueeze_(-1).div_(y.size(-1))
        return torch.addcmul(grad, y, mean_gy, value=-1).mul_(r)


def head_logits_cpu(x, weight, cap):
    # torch's CPU tanh is ~6x slower than its sigmoid, and tanh(u) = 2 sigmoid(2u) - 1
    logits = F.linear(x, weight).float()
    if not cap:
        return logits
    if torch.is_grad_enabled():
        return torch.sigmoid(logits * (2 / cap)) * (2 * cap) - cap
    return logits.mul_(2 / cap).sigmoid_().mul_(2 * cap).sub_(cap)  # evaluation: no copies


class SoftcapCrossEntropy(torch.autograd.Function):
    """head_loss(), LOSS_CHUNK_ROWS rows at a time: the [N, vocab] logits never exist whole.

    Each chunk's logits live only in cache: the loss and both gradients are computed
    in the same pass (the backward just scales them). With s = sigmoid(2u / cap) the
    capped logit is z = cap * (2s - 1) and dz/du = 4 s (1 - s).
    """

    @staticmethod
    def forward(ctx, x, weight, targets, cap):
        grad_x = torch.empty_like(x)
        grad_w = torch.zeros_like(weight)
        total = x.new_zeros((), dtype=torch.float64)
        for i in range(0, x.size(0), LOSS_CHUNK_ROWS):
            xc, tc = x[i : i + LOSS_CHUNK_ROWS], targets[i : i + LOSS_CHUNK_ROWS, None]
            if cap:
                s = torch.mm(xc * (2 / cap), weight.t()).sigmoid_()
                z = s * (2 * cap)  # the capped logits plus cap: a constant shift, same softmax
            else:
                z = torch.mm(xc, weight.t())
            picked = z.gather(1, tc)
            # exp(z) cannot overflow while 0 < z < 2 cap <= 80; otherwise shift by the max
            shift = z.amax(dim=-1, keepdim=True) if not cap or cap > 40 else 0.0
            g = (z.sub_(shift) if torch.is_tensor(shift) else z).exp_()
            sum_exp = g.sum(dim=-1, keepdim=True)
            total += (sum_exp.log() + shift - picked).sum()
            g.div_(sum_exp).scatter_add_(1, tc, torch.full_like(tc, -1, dtype=g.dtype))
            if cap:  # chain rule through the cap, with the constant 4 applied in backward
                g.mul_(s.addcmul_(s, s, value=-1))
            torch.mm(g, weight, out=grad_x[i : i + LOSS_CHUNK_ROWS])
            grad_w.addmm_(g.t(), xc)
        ctx.save_for_backward(grad_x, grad_w)
        ctx.chain = 4.0 if cap else 1.0
        return (total / x.size(0)).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_loss):
        grad_x, grad_w = ctx.saved_tensors
        scale = grad_loss * (ctx.chain / grad_x.size(0))
        return grad_x * scale, grad_w * scale, None, None


def agrees(plain, kernel, args):
    """Do plain(*args) and kernel(*args) give the same values and the same gradients?"""

    def values_and_grads(fn):
        with torch.no_grad():  # evaluation's path
            value = fn(*args)
        inputs = [
            a.clone().requires_grad_(a.is_floating_point()) if torch.is_tensor(a) else a
            for a in args
        ]
        out = fn(*inputs)
        weights = torch.rand(out.shape, generator=torch.Generator().manual_seed(0))
        leaves = [a for a in inputs if torch.is_tensor(a) and a.requires_grad]
        return [value, out.detach(), *torch.autograd.grad((out * weights).sum(), leaves)]

    pairs = zip(values_and_grads(plain), values_and_grads(kernel), strict=True)
    return all(torch.allclose(a, b, rtol=1e-3, atol=1e-5 * b.abs().max()) for a, b in pairs)


def with_cpu_kernel(plain, kernel, probe):
    """plain, except that CPU calls go to kernel if the two agree on probe(*first call's args)."""
    verdict = []

    def dispatch(*args):
        if not FAST_CPU_KERNELS or args[0].device.type != "cpu":
            return plain(*args)
        if not verdict:
            try:  # the probe needs autograd, also when evaluation calls first
                with torch.inference_mode(False), torch.enable_grad():
                    verdict.append(agrees(plain, kernel, probe(*args)))
            except Exception:  # e.g. an edit changed the plain function's arguments
                verdict.append(False)
            if not verdict[0]:
                print(f"CPU kernel for {plain.__name__}() is off: it differs from the code above")
        return kernel(*args) if verdict[0] else plain(*args)

    return dispatch


def probe_norm(x):
    return (torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(0)),)


def probe_head(cap, targets=False):
    """Arguments for head_logits (or head_loss): a few chunks, a ragged one, logits near cap."""
    rows, g = 2 * LOSS_CHUNK_ROWS + 3, torch.Generator().manual_seed(0)
    x = torch.randn(rows, 16, generator=g) * ((cap or 1) / 4)
    weight, labels = torch.randn(40, 16, generator=g), torch.randint(40, (rows,), generator=g)
    return (x, weight, labels, cap) if targets else (x, weight, cap)


norm = with_cpu_kernel(norm, RMSNormCPU.apply, probe_norm)
head_logits = with_cpu_kernel(head_logits, head_logits_cpu, lambda *a: probe_head(a[-1]))
head_loss = with_cpu_kernel(
    head_loss, SoftcapCrossEntropy.apply, lambda *a: probe_head(a[-1], True)
)
