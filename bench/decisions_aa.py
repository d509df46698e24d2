"""A/A and restored-degradation evaluations on a real stack (`loopy up`, CPU).

    python -m bench.decisions_aa [--budget 2] [--aa 3] [--tiny]

Starts `loopy up` on a temporary data dir with a small harness built from pydoc text,
then, through the HTTP API:

- a comment-only edit: ProposeEdit must report it equivalent and Evaluate answer
  EQUIVALENT at once (no run);
- `--aa` seed-only edits (`torch.manual_seed(ctx.seed + k)`: different code, the same
  distribution), each evaluated with the track's policy: none may KEEP;
- a restored degradation: a known-bad revision (every learning rate / 100) is forced onto
  the head by the admin, then the original code is evaluated against it: it should KEEP.

Prints each verdict with the pairs and runs it used, its e-value and threshold, the
speed ratio and the wall time. `--tiny` uses the e2e tests' one-layer model (seconds per
run); without it the baseline model trains for `--budget` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import pydoc
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "options": {
        "DEPTH": 1,
        "ASPECT_RATIO": 32,
        "HEAD_DIM": 16,
        "TOTAL_BATCH_SIZE": 256,
        "DEVICE_BATCH_SIZE": 4,
    },
    "threads": 1,
    "startup_allowance_s": 60.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_harness(root: Path, budget_s: float) -> Path:
    from trainer.data.prepare import prepare

    modules = ("json", "argparse", "pathlib", "collections", "functools", "subprocess")
    text = "\n\n".join(pydoc.render_doc(__import__(m), renderer=pydoc.plaintext) for m in modules)
    corpus = root / "corpus.jsonl"
    corpus.write_text(
        "\n".join(json.dumps({"text": text[i : i + 3000]}) for i in range(0, len(text), 3000))
    )
    out = root / "harness"
    prepare(
        [corpus],
        out,
        vocab_size=512,
        val_tokens=1024,
        seq_len=64,
        time_budget_s=budget_s,
        threads=1,
    )
    return out


def wait(fn: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(what)


def evaluate(client: httpx.Client, source: str, description: str) -> dict[str, Any]:
    started = time.monotonic()
    proposed = client.post(
        "/v1/tracks/baseline/revisions", json={"full_source": source, "description": description}
    )
    proposed.raise_for_status()
    revision = proposed.json()["revision"]["id"]
    run = client.post("/v1/runs", json={"track_id": "baseline", "revision_id": revision})
    run.raise_for_status()
    run_id = run.json()["id"]
    evaluation = client.post(f"/v1/runs/{run_id}/evaluations", json={})
    evaluation.raise_for_status()
    eval_id = evaluation.json()["id"]

    def done() -> Any:
        got = client.get(f"/v1/runs/{run_id}/evaluations/{eval_id}").json()
        return got if got["state"] != "PENDING" else None

    result = wait(done, 3600, "evaluation")
    if result["verdict"] == "EQUIVALENT":
        client.post(f"/v1/runs/{run_id}/cancel")
    result["equivalent_to_on_propose"] = proposed.json().get("equivalent_to", [])
    result["wall_s"] = time.monotonic() - started
    result["run_id"] = run_id
    return result


def show(label: str, e: dict[str, Any]) -> None:
    speed = e.get("speed") or {}
    runs = len(e["replicate_run_ids"]) + (1 if e["pairs"] else 0)
    print(
        f"{label:28} {e['verdict'] or e['state']:12} pairs {e['pairs_used']:2}/{len(e['pairs']):2} "
        f"runs {runs:2}  delta {e['delta'] if e['delta'] is None else round(e['delta'], 4)}  "
        f"e {e['e_value'] and round(e['e_value'], 2)} / {e['threshold'] and round(e['threshold'])}"
        f"  speed x{speed.get('speed_ratio') and round(speed['speed_ratio'], 3)}"
        f"  {e['wall_s']:.0f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--aa", type=int, default=3)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="loopy-aa-"))
    harness = build_harness(root, args.budget)
    http_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    if args.tiny:
        env["LOOPY_WORKER_RUN_OPTIONS"] = json.dumps(TINY)
    for name in ("LOOPY_DATABASE_URL", "LOOPY_ARTIFACTS_URL", "LOOPY_BROKER_URL"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "up",
        "--data-dir",
        str(root / "data"),
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        "--harness",
        str(harness),
        "--budget",
        f"{args.budget:g}",
    ]
    up = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        key_file = root / "data" / "admin.key"
        wait(lambda: key_file.exists() and key_file.read_text().strip(), 300, "loopy up")
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{http_port}",
            headers={"Authorization": f"Bearer {key_file.read_text().strip()}"},
            timeout=30,
        )
        wait(lambda: _ok(client), 300, "the API")
        track = wait(
            lambda: (t := client.get("/v1/tracks/baseline").json()).get("head_run_id") and t,
            900,
            "calibration",
        )
        head = client.get(f"/v1/revisions/{track['head_revision']}").json()["revision"]["source"]
        print(
            f"track baseline: budget {args.budget:g} s, noise_std {track['noise_std']}, "
            f"policy {track['policy']}",
            flush=True,
        )
        comment = evaluate(client, head + "\n# a comment changes nothing\n", "comment only")
        show("A/A comment-only", comment)
        assert comment["equivalent_to_on_propose"], "not reported equivalent"
        for k in range(1, args.aa + 1):
            source = head.replace(
                "torch.manual_seed(ctx.seed)", f"torch.manual_seed(ctx.seed + {k})"
            )
            show(f"A/A seed-only #{k}", evaluate(client, source, f"seed + {k}"))
        # Every learning rate / 100: training barely moves, a large known degradation.
        bad_source = re.sub(
            r"^((?:MATRIX|EMBEDDING|UNEMBEDDING|SCALAR)_LR) = ([0-9.e-]+)",
            lambda m: f"{m.group(1)} = {float(m.group(2)) / 100!r}",
            head,
            flags=re.MULTILINE,
        )
        assert bad_source != head
        bad = client.post(
            "/v1/tracks/baseline/revisions", json={"full_source": bad_source, "description": "bad"}
        ).json()["revision"]["id"]
        bad_run = client.post("/v1/runs", json={"track_id": "baseline", "revision_id": bad}).json()
        wait(
            lambda: client.get(f"/v1/runs/{bad_run['id']}").json()["state"] == "SUCCEEDED",
            600,
            "the degraded run",
        )
        forced = client.post(
            "/v1/tracks/baseline/promote",
            json={"run_id": bad_run["id"], "force": True, "reason": "bench: known degradation"},
        )
        forced.raise_for_status()
        restored = evaluate(client, head, "restore the original")
        show("restored degradation", restored)
        print("error budget:", client.get("/v1/tracks/baseline").json()["error_budget"], flush=True)
    finally:
        os.killpg(up.pid, signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)


def _ok(client: httpx.Client) -> bool:
    try:
        return client.get("/v1/tracks").status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    main()
