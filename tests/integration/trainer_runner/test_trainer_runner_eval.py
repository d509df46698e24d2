"""The trusted metric, the baseline end to end, and the CLI over the runner."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from trainer.baseline import baseline_source
from trainer.data.harness import Harness

TINY_BASELINE = {"DEPTH": 2, "ASPECT_RATIO": 32, "TOTAL_BATCH_SIZE": 512, "DEVICE_BATCH_SIZE": 8}


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def direct_val_bpb(model, harness: Harness) -> float:
    """val_bpb the textbook way: F.cross_entropy over every target, specials excluded."""
    x = torch.from_numpy(harness.val_inputs()).long()
    y = torch.from_numpy(harness.val_targets()).long()
    nbytes = torch.from_numpy(harness.token_bytes()).long()[y]
    with torch.no_grad():
        nll = F.cross_entropy(model(x).flatten(0, 1).double(), y.flatten(), reduction="none")
    counted = nbytes.flatten() > 0
    return float(nll[counted].sum() / (math.log(2) * nbytes.flatten()[counted].sum()))


def test_baseline_learns_and_val_bpb_matches_a_direct_computation(run_source, harness_dir):
    torch.set_num_threads(1)
    result = run_source(baseline_source(), budget_s=4.0, options=TINY_BASELINE)
    assert result.state == "SUCCEEDED", result.failure_message
    assert result.integrity["causality"]["checked"] and result.integrity["statelessness"]["checked"]

    out = Path(result.log_path).parent
    losses = [
        row["value"]
        for row in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
        if row["name"] == "loss"
    ]
    assert result.num_steps >= 5 and losses[-1] < losses[0] - 1.0

    train_py = load_module(out / "train.py", "trained_baseline")
    config = json.loads((out / "checkpoint.json").read_text())
    harness = Harness.load(harness_dir)
    trained = train_py.build_model(config).eval()
    trained.load_state_dict(torch.load(out / "checkpoint.pt", weights_only=True))
    assert result.val_bpb == pytest.approx(direct_val_bpb(trained, harness), rel=1e-4)

    torch.manual_seed(0)
    untrained = train_py.build_model(config).eval()
    assert result.val_bpb < direct_val_bpb(untrained, harness)


def test_cli_train_prints_json_last(harness_dir, tmp_path, bigram):
    train_file = tmp_path / "train.py"
    train_file.write_text(bigram)
    cmd = [
        sys.executable,
        "-m",
        "service.cli",
        "train",
        "--harness",
        str(harness_dir),
        "--train-file",
        str(train_file),
        "--budget",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--json",
        "--quiet",
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[3]
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    assert payload["state"] == "SUCCEEDED" and payload["val_bpb"] > 0
    assert set(payload["overhead"]) >= {"startup_seconds", "training_seconds", "eval_seconds"}


def test_cli_baseline_prints_the_source():
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "baseline"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[3],
    )
    assert done.returncode == 0
    assert done.stdout == baseline_source()
