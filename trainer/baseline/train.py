"""Baseline train.py: a small modern GPT trained for a fixed time budget.

The contract (Loopy SPEC §3): `build_model(config) -> nn.Module` whose
forward(idx [B, T]) returns causal logits [B, T, vocab], and `train(ctx)`, the
training loop, which ends with `ctx.save(model, config)`. The runner evaluates
the saved model itself; this file never sees the validation data.

Read top to bottom: hyper-parameters, model, optimizer, schedule, training loop.
`ctx.options` may override any UPPER_CASE constant below by name (the tests use
it to shrink the model), e.g. {"DEPTH": 2}.
"""

import gc
import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- Hyper-parameters ---------------------------------------------------------
# Sized by the device: a GPU default close to depth 8 / seq 2048 / vocab 8192,
# and a CPU default that learns something visible in 60 s on 2 cores.
# The sequence length and vocabulary come from the harness (ctx).

ON_GPU = torch.cuda.is_available()  # the runner hides the GPU from CPU runs

# model shape
DEPTH = 8 if ON_GPU else 4  # transformer blocks
ASPECT_RATIO = 64 if ON_GPU else 32  # model width = DEPTH * ASPECT_RATIO
HEAD_DIM = 128 if ON_GPU else 32  # channels per attention head
# per layer, cycled: S = sliding window, L = full causal. At CPU sequence lengths a window
# saves nothing, and a masked attention is slower on CPU than the causal kernel.
WINDOW_PATTERN = "SSSL" if ON_GPU else "L"
SHORT_WINDOW_FRACTION = 0.25  # S-layer window, as a fraction of the sequence length
LOGIT_CAP = 15.0  # soft cap on output logits: cap * tanh(logits / cap); 0 = no cap
LOSS_CHUNK_ROWS = 256  # CPU training loss: tokens per chunk of the head + loss (stays in cache)

# batch
TOTAL_BATCH_SIZE = 2**19 if ON_GPU else 2**11  # tokens per optimizer step
DEVICE_BATCH_SIZE = 128 if ON_GPU else 8  # rows per forward/backward pass

# optimizer
MATRIX_LR = 0.04  # Muon, for the 2-D weights inside the blocks
EMBEDDING_LR = 0.6  # AdamW, token embedding
UNEMBEDDING_LR = 0.004  # AdamW, lm_head
SCALAR_LR = 0.04  # AdamW, per-layer residual scalars
WEIGHT_DECAY = 0.0  # decoupled, on Muon matrices only (times lr)
ADAM_BETAS = (0.8, 0.95)
MUON_MOMENTUM = 0.95  # reached after MUON_MOMENTUM_WARMUP_STEPS, from 0.85
MUON_MOMENTUM_WARMUP_STEPS = 300  # optimizer steps
NS_STEPS = 5  # Newton-Schulz iterations per Muon update

# schedule, as fractions of the time budget (ctx.progress() runs 0 -> 1)
WARMUP_RATIO = 0.0
WARMDOWN_RATIO = 0.5  # linear decay to FINAL_LR_FRAC over the last half
FINAL_LR_FRAC = 0.0

# runtime
COMPILE = ON_GPU  # torch.compile the model on CUDA (the first step pays for it)
EXPLODING_LOSS = 100.0  # nats; above this the run is hopeless, fail fast


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
    if x.is_cuda:
        return F.rms_norm(x, (x.size(-1),))  # torch.compile fuses it
    return RMSNormCPU.apply(x)


class RMSNormCPU(torch.autograd.Function):
    """F.rms_norm's math with a hand-written backward: eager CPU autograd otherwise
    decomposes it into many passes over memory (3-4x slower)."""

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
        B, T = idx.size()
        cos, sin = self.cos[:, :, :T].to(idx.device), self.sin[:, :, :T].to(idx.device)
        windowed = any(b.attn.window is not None and b.attn.window < T for b in self.blocks)
        mask = self.window_mask(T, idx.device) if windowed else None
        x = x0 = norm(self.wte(idx))
        for i, block in enumerate(self.blocks):
            x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            x = block(x, cos, sin, mask)
        x = norm(x)
        cap = self.config.logit_cap
        if targets is not None and not x.is_cuda:
            # never materialise the full [B*T, vocab] logits on CPU: memory traffic dominates
            flat = x.reshape(B * T, -1)
            return SoftcapCrossEntropy.apply(flat, self.lm_head.weight, targets.reshape(-1), cap)
        logits = softcap(self.lm_head(x).float(), cap)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def softcap(logits, cap):
    """cap * tanh(logits / cap): logits bounded smoothly to (-cap, cap); cap 0 = no cap."""
    if not cap:
        return logits
    if logits.is_cuda:
        return cap * torch.tanh(logits / cap)  # torch.compile fuses this
    # CPU: torch's tanh is ~6x slower than its sigmoid, and tanh(u) = 2 sigmoid(2u) - 1;
    # without autograd (evaluation) work in place on the fresh logits
    if torch.is_grad_enabled():
        return torch.sigmoid(logits * (2 / cap)) * (2 * cap) - cap
    return logits.mul_(2 / cap).sigmoid_().mul_(2 * cap).sub_(cap)


class SoftcapCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of softcap(x @ W^T, cap), LOSS_CHUNK_ROWS rows at a time, on CPU.

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


def build_model(config: dict) -> nn.Module:
    return GPT(GPTConfig(**config))


# --- Optimizer ----------------------------------------------------------------
# Muon for the 2-D matrices inside the blocks: momentum, then replace the update
# by the nearest semi-orthogonal matrix (Newton-Schulz on its polar factor), so
# every direction moves at the same rate. AdamW for embedding, head and scalars.


def zeropower_via_newtonschulz5(G, steps=NS_STEPS):
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
        defaults = dict(lr=0.0, weight_decay=0.0, betas=ADAM_BETAS, eps=1e-10, momentum=0.95)
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
            orthogonal = zeropower_via_newtonschulz5(torch.stack(updates))
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
    groups = [
        dict(kind="muon", params=matrices, lr=MATRIX_LR, weight_decay=WEIGHT_DECAY),
        dict(kind="adamw", params=[model.wte.weight], lr=EMBEDDING_LR * width_scale),
        dict(kind="adamw", params=[model.lm_head.weight], lr=UNEMBEDDING_LR * width_scale),
        dict(kind="adamw", params=scalars, lr=SCALAR_LR),
    ]
    return MuonAdamW(groups)


# --- Schedule -----------------------------------------------------------------


def get_lr_multiplier(progress):
    """Learning-rate multiplier for the fraction of the time budget already spent."""
    if progress < WARMUP_RATIO:
        return (progress + 1e-8) / WARMUP_RATIO
    if progress < 1.0 - WARMDOWN_RATIO:
        return 1.0
    cooldown = max(0.0, 1.0 - progress) / WARMDOWN_RATIO
    return cooldown + (1.0 - cooldown) * FINAL_LR_FRAC


def get_muon_momentum(step):
    frac = min(step / MUON_MOMENTUM_WARMUP_STEPS, 1.0)
    return (1 - frac) * 0.85 + frac * MUON_MOMENTUM


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
    forward = torch.compile(model) if COMPILE and on_cuda else model
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
        if not math.isfinite(loss_value) or loss_value > EXPLODING_LOSS:
            raise FloatingPointError(f"loss diverged at step {step}: {loss_value}")
        smooth_loss = 0.9 * smooth_loss + 0.1 * loss_value
        extra = dict(lr_multiplier=lrm, tokens_per_second=rows * T * grad_accum / dt)
        if ctx.peak_flops:
            extra["mfu_percent"] = 100 * flops_per_step / dt / ctx.peak_flops
        ctx.report(step, loss=loss_value, **extra)
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
