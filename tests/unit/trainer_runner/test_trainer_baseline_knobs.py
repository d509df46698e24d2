"""The baseline as each device class receives it: one value per knob, and every knob acts.

An agent edits an UPPER_CASE constant in its track's train.py (or a run overrides it
through ctx.options); either way the run must change. Each test run trains a tiny
model for three steps on the CPU and records what a changed knob could change.
"""

import ast
import sys

import pytest
import torch

from trainer.baseline import BASELINE_PATH, GPU_KNOBS, baseline_source, set_knobs

RENDERINGS = {"cpu": baseline_source("cpu"), "cuda": baseline_source("cuda")}
# small enough that three steps take milliseconds; every knob below differs from these
TINY = dict(DEPTH=1, ASPECT_RATIO=16, HEAD_DIM=8, TOTAL_BATCH_SIZE=64, DEVICE_BATCH_SIZE=2)
# a value for each knob that differs from the tiny reference and from every rendering
CHANGED = dict(
    DEPTH=2,
    ASPECT_RATIO=24,
    HEAD_DIM=4,
    WINDOW_PATTERN="SL",
    SHORT_WINDOW_FRACTION=0.5,
    LOGIT_CAP=5.0,
    TOTAL_BATCH_SIZE=32,
    DEVICE_BATCH_SIZE=1,
    MATRIX_LR=0.02,
    EMBEDDING_LR=0.3,
    UNEMBEDDING_LR=0.008,
    SCALAR_LR=0.02,
    WEIGHT_DECAY=0.1,
    ADAM_BETAS=(0.9, 0.99),
    MUON_MOMENTUM_START=0.5,
    MUON_MOMENTUM=0.9,
    MUON_MOMENTUM_WARMUP_STEPS=1,
    NS_STEPS=2,
    WARMUP_RATIO=0.5,
    WARMDOWN_RATIO=0.2,
    FINAL_LR_FRAC=0.1,
    FAST_CPU_KERNELS=False,
    LOSS_CHUNK_ROWS=4,
)
STEPS = 3


def knobs_of(source: str) -> dict[str, list[ast.expr]]:
    """Every module-level UPPER_CASE assignment: name -> the values assigned to it."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.isupper():
                    found.setdefault(target.id, []).append(node.value)
    return found


def load(source: str):
    module = type(sys)("knob_baseline")
    exec(compile(source, "train.py", "exec"), module.__dict__)
    return module


class FakeCtx:
    """The runner's ctx, recording what the train file asked for and reported."""

    device, vocab_size, seq_len, bos_token_id, seed, peak_flops = "cpu", 64, 16, 0, 0, None

    def __init__(self, options):
        self.options = options
        self.steps = 0
        self.served = 0
        self.batch_shape = None
        self.reports = []
        self.saved = None

    def train_batches(self, rows, seq_len):
        self.batch_shape = (rows, seq_len)
        g = torch.Generator().manual_seed(0)
        while True:
            data = torch.randint(0, self.vocab_size, (rows, seq_len + 1), generator=g)
            self.served += 1
            yield data[:, :-1], data[:, 1:]

    def progress(self):
        return self.steps / STEPS

    def report(self, step, loss, **extra):
        self.reports.append((step, loss, extra["lr_multiplier"]))

    def should_stop(self):
        self.steps += 1
        return self.steps >= STEPS

    def save(self, model, config):
        self.saved = (torch.cat([p.detach().flatten() for p in model.parameters()]), config)


def train_and_record(source, monkeypatch, options=None):
    """What a short run shows: config, batches, losses, lr schedule, weights, kernel use."""
    calls = {"compile": 0, "chunks": 0}

    def compile_spy(model, **_):
        calls["compile"] += 1
        return model

    gather = torch.Tensor.gather

    def gather_spy(*args, **kwargs):  # only the chunked CPU loss kernel gathers
        calls["chunks"] += 1
        return gather(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", compile_spy)
    monkeypatch.setattr(torch.Tensor, "gather", gather_spy)
    ctx = FakeCtx(options or {})
    load(source).train(ctx)
    weights, config = ctx.saved
    return dict(
        config=config,
        batch_shape=ctx.batch_shape,
        batches=ctx.served,
        reports=ctx.reports,
        weights=weights,
        **calls,
    )


def differences(a, b):
    return [k for k in a if not (torch.equal(a[k], b[k]) if k == "weights" else a[k] == b[k])]


@pytest.fixture(scope="module")
def reference(request):
    monkeypatch = pytest.MonkeyPatch()
    request.addfinalizer(monkeypatch.undo)
    return {
        name: train_and_record(set_knobs(source, TINY), monkeypatch)
        for name, source in RENDERINGS.items()
    }


def test_the_cpu_rendering_is_the_file_on_disk():
    assert baseline_source() == baseline_source("cpu") == BASELINE_PATH.read_text()
    assert baseline_source("cpu-large") == baseline_source("cpu")


@pytest.mark.parametrize("device_class", ["cuda", "h100", "gpu-a"])
def test_a_gpu_rendering_holds_gpu_values_and_no_cpu_kernels(device_class):
    source = baseline_source(device_class)
    module = load(source)
    assert {name: getattr(module, name) for name in GPU_KNOBS} == GPU_KNOBS
    assert "# --- CPU kernels" not in source and "FAST_CPU_KERNELS" not in source
    assert "ON_GPU" not in source + baseline_source("cpu")  # no knob with two values


@pytest.mark.parametrize("device_class", sorted(RENDERINGS))
def test_each_rendering_has_each_knob_once_and_a_test_for_it(device_class):
    source = RENDERINGS[device_class]
    compile(source, "train.py", "exec")
    knobs = knobs_of(source)
    assert {name: len(values) for name, values in knobs.items() if len(values) != 1} == {}
    assert set(knobs) - {"COMPILE"} <= set(CHANGED), "a knob without a test of its effect"
    assert set(GPU_KNOBS) <= set(knobs)


@pytest.mark.parametrize("device_class", sorted(RENDERINGS))
def test_each_rendering_trains(device_class, reference):
    record = reference[device_class]
    assert record["batch_shape"] == (2, 16) and record["batches"] == 2 * STEPS
    assert len(record["reports"]) == STEPS
    assert all(0 < loss < 10 for _, loss, _ in record["reports"])
    assert record["config"]["n_layer"] == 1 and record["config"]["n_embd"] == 16
    model = load(RENDERINGS[device_class]).build_model(record["config"])
    assert sum(p.numel() for p in model.parameters()) == record["weights"].numel()


def test_set_knobs_refuses_a_knob_it_cannot_place():
    with pytest.raises(ValueError, match="DEPTH"):
        set_knobs("DEPTH = 4\nDEPTH = 8\n", {"DEPTH": 2})
    with pytest.raises(ValueError, match="WIDTH"):
        set_knobs("DEPTH = 4\n", {"WIDTH": 2})
    assert (
        set_knobs("DEPTH = 4  # blocks: ‘deep’\n", {"DEPTH": 8}) == "DEPTH = 8  # blocks: ‘deep’\n"
    )


def knob_cases():
    return [
        pytest.param(device_class, name, how, id=f"{device_class}-{name}-{how}")
        for device_class, source in RENDERINGS.items()
        for name in sorted(knobs_of(source))
        for how in ("source edit", "ctx.options")
    ]


@pytest.mark.parametrize("device_class, name, how", knob_cases())
def test_every_knob_takes_effect(device_class, name, how, reference, monkeypatch):
    source = set_knobs(RENDERINGS[device_class], TINY)
    value = not getattr(load(source), name) if name == "COMPILE" else CHANGED[name]
    if how == "source edit":  # what an agent's edit of that line does
        record = train_and_record(set_knobs(source, {name: value}), monkeypatch)
    else:
        options = {name: list(value) if isinstance(value, tuple) else value}
        record = train_and_record(source, monkeypatch, options)
    assert differences(record, reference[device_class]), f"{name} = {value!r} changed nothing"
