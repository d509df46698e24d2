"""Hostile train files: each is contained and classified, and the runner carries on."""

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from trainer.runner.sandbox import ALLOCATOR_ENV


def test_loop_ignoring_should_stop_times_out(run_source):
    source = """
def build_model(config):
    pass

def train(ctx):
    step = 0
    while True:
        ctx.report(step, loss=1.0)
        step += 1
"""
    t0 = time.monotonic()
    result = run_source(source, budget_s=1.0, startup_allowance_s=3.0, grace_s=1.0)
    elapsed = time.monotonic() - t0
    assert result.failure_reason == "TIMEOUT", result.failure_message
    assert elapsed < 1.0 + 3.0 + 1.0 + 3.0  # budget + allowance + grace, plus clean-up


def test_fork_bomb_is_contained(run_source):
    source = """
import os

def build_model(config):
    pass

def train(ctx):
    ctx.report(0, loss=1.0)
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""
    result = run_source(
        source, budget_s=1.0, startup_allowance_s=3.0, grace_s=1.0, max_processes=64
    )
    assert result.state == "FAILED"
    assert result.failure_reason in ("TIMEOUT", "SANDBOX_VIOLATION")


def test_memory_hog_is_oom(run_source):
    source = """
def build_model(config):
    pass

def train(ctx):
    hog = []
    while True:
        hog.append(bytearray(256 << 20))
"""
    result = run_source(source, memory_limit_mb=1024)
    assert result.failure_reason == "OOM", result.failure_message


def test_file_size_bomb_is_stopped(run_source, tmp_path):
    source = """
def build_model(config):
    pass

def train(ctx):
    with open("big.bin", "wb") as f:
        for _ in range(64):
            f.write(b"x" * (1 << 20))
"""
    result = run_source(source, max_file_size_mb=4)
    assert result.failure_reason == "SANDBOX_VIOLATION", result.failure_message
    assert "file size" in result.failure_message


def test_environment_holds_none_of_the_parents_variables(run_source, monkeypatch):
    monkeypatch.setenv("LOOPY_TEST_SECRET", "hunter2")
    source = """
import json, os

def build_model(config):
    pass

def train(ctx):
    print("ENV=" + json.dumps(dict(os.environ)))
"""
    result = run_source(source)
    assert result.failure_reason == "CONTRACT"  # returned without ctx.save
    line = next(x for x in Path(result.log_path).read_text().splitlines() if x.startswith("ENV="))
    env = json.loads(line[4:])
    assert "hunter2" not in line
    assert set(env) <= {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "USER",
        "PWD",  # bwrap's, after it enters /scratch
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES",
        "LC_CTYPE",
        *ALLOCATOR_ENV,  # malloc tuning, the same for every run
    }, env
    assert env["HOME"] == "/scratch"  # its private tmpfs


def test_network_is_unreachable(run_source):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                accepted.append(server.accept())
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept)
    thread.start()
    source = f"""
import socket

def build_model(config):
    pass

def train(ctx):
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2)
        print("CONNECTED")
    except OSError as exc:
        print("CONNECT FAILED", exc)
"""
    try:
        result = run_source(source)
    finally:
        server.close()
        thread.join()
    log = Path(result.log_path).read_text()
    assert "CONNECT FAILED" in log and "CONNECTED" not in log
    assert not accepted
    assert result.network_isolated


def test_printed_metric_is_ignored(run_source, bigram):
    source = bigram.replace("def train(ctx):", "def train(ctx):\n    print('val_bpb: 0.0001')")
    result = run_source(source)
    assert result.state == "SUCCEEDED", result.failure_message
    assert result.val_bpb > 0.5  # the supervisor's number, not the printed one


def test_model_peeking_at_future_tokens_fails_integrity(run_source, bigram):
    source = bigram.replace(
        "        return self.table(idx)",
        "        nxt = torch.roll(idx, -1, dims=1)  # the answer\n"
        "        return self.table(idx) + 20 * F.one_hot(nxt, self.table.num_embeddings)",
    )
    result = run_source(source)
    assert result.failure_reason == "INTEGRITY", result.failure_message
    assert "causality" in result.failure_message
    assert result.integrity["causality"]["max_abs_diff"] > 1


def test_model_whose_output_changes_between_calls_fails_integrity(run_source, bigram):
    source = bigram.replace(
        "        return self.table(idx)",
        "        self.calls = getattr(self, 'calls', 0) + 1\n"
        "        return self.table(idx) - 0.01 * self.calls",
    )
    result = run_source(source)
    assert result.failure_reason == "INTEGRITY", result.failure_message
    assert result.integrity["statelessness"]["max_abs_diff"] > 1e-3


def test_patching_cross_entropy_has_no_effect(run_source, bigram, tmp_path):
    honest = run_source(bigram, out_dir=str(tmp_path / "honest"))
    patched = bigram + "\nF.cross_entropy = lambda *a, **k: torch.zeros((), requires_grad=True)\n"
    # training still needs a real loss: patch only after training, at import of the module
    patched = patched.replace("F.cross_entropy(", "torch.nn.functional.nll_loss(torch.log_softmax(")
    patched = patched.replace("y.flatten())", "-1), y.flatten())")
    cheat = run_source(patched, out_dir=str(tmp_path / "cheat"))
    assert cheat.state == "SUCCEEDED", cheat.failure_message
    assert cheat.val_bpb == pytest.approx(honest.val_bpb, rel=1e-6)


def test_nan_loss_is_diverged(run_source):
    source = """
def build_model(config):
    pass

def train(ctx):
    ctx.report(0, loss=float("nan"))
"""
    result = run_source(source)
    assert result.failure_reason == "DIVERGED", result.failure_message


def test_wrong_logits_shape_is_contract(run_source, bigram):
    source = bigram.replace(
        "        return self.table(idx)", "        return self.table(idx)[:, -1]"
    )
    source = source.replace("model(x).flatten(0, 1), y.flatten()", "model(x), y[:, -1]")
    result = run_source(source)
    assert result.failure_reason == "CONTRACT", result.failure_message
    assert "must return logits" in result.failure_message


def test_missing_build_model_is_contract(run_source):
    result = run_source("def train(ctx):\n    pass\n")
    assert result.failure_reason == "CONTRACT"
    assert "build_model" in result.failure_message


def test_crash_carries_the_traceback_tail(run_source):
    source = "def build_model(config):\n    pass\n\ndef train(ctx):\n    1 / 0\n"
    result = run_source(source)
    assert result.failure_reason == "CRASH"
    assert "ZeroDivisionError" in result.failure_message


def test_cancel_kills_the_run(run_source, harness_dir, tmp_path):
    from trainer.runner import RunConfig, run

    source = "import time\ndef build_model(c):\n    pass\ndef train(ctx):\n    time.sleep(60)\n"
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    t0 = time.monotonic()
    result = run(
        RunConfig(
            harness_dir=str(harness_dir),
            train_source=source,
            budget_s=30,
            out_dir=str(tmp_path / "out"),
            threads=1,
        ),
        cancel=cancel,
    )
    assert result.state == "CANCELLED"
    assert time.monotonic() - t0 < 10
    assert os.path.exists(result.log_path)
