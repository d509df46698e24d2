"""Duty cycle of one CPU worker: how much of the wall clock is training.

Eight runs are queued at once (the Loopy way: agents keep the queue full) at
each budget; beside them the same eight experiments the single-agent way (one
run at a time, the next launched only after the previous result was read,
plus a fixed 10 s of agent "thinking"). Duty cycle = sum of training seconds /
wall seconds from the first run's start to the last run's result.

    python bench/duty_cycle.py                      # 20 s and 60 s budgets (~25 min)
    python bench/duty_cycle.py --budgets 5 --runs 3 # a quick smoke run

Everything runs on the embedded stack (SQLite, local artifacts, the
filesystem broker) in a temporary data dir, with one `loopy worker --device
cpu` subprocess. A first calibration run warms the worker (imports, harness
cache) before anything is measured.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.domain.models import (  # noqa: E402
    TERMINAL_RUN_STATES,
    DecisionPolicy,
    LaunchRunRequest,
    Run,
)
from service.domain.service import CreateHarnessRequest, CreateTrackRequest  # noqa: E402
from service.log import configure_logging  # noqa: E402
from service.proctree import stop_process_tree  # noqa: E402
from service.settings import load_settings  # noqa: E402
from service.wiring import build_core  # noqa: E402

OVERHEAD_FIELDS = ("queue_wait_seconds", "startup_seconds", "eval_seconds", "upload_seconds")


def wait_terminal(core: Any, run_ids: list[str], timeout_s: float) -> list[Run]:
    deadline = time.monotonic() + timeout_s
    while True:
        runs = [core.meta.get_run(run_id) for run_id in run_ids]
        if all(r is not None and r.state in TERMINAL_RUN_STATES for r in runs):
            return runs  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not finished after {timeout_s:.0f} s")
        time.sleep(0.1)


def measure(runs: list[Run], wall_end: float | None = None) -> dict[str, float]:
    failed = [r for r in runs if r.state != "SUCCEEDED"]
    if failed:
        raise RuntimeError(
            f"{len(failed)} runs did not succeed: {[(r.id, r.failure_reason) for r in failed]}"
        )
    first_start = min(r.start_time.timestamp() for r in runs if r.start_time)
    last_end = wall_end or max(r.end_time.timestamp() for r in runs if r.end_time)
    training = sum(r.summary.training_seconds for r in runs if r.summary)
    row = {
        "wall_s": last_end - first_start,
        "training_s": training,
        "duty": training / (last_end - first_start),
    }
    for field in OVERHEAD_FIELDS:
        row[field] = statistics.median(getattr(r.summary.overhead, field) for r in runs)
    row["median_train_s"] = statistics.median(r.summary.training_seconds for r in runs)
    return row


def queued_at_once(core: Any, principal: Any, track_id: str, n: int, budget: float) -> dict:
    ids = [
        core.launch_run(principal, LaunchRunRequest(track_id=track_id, seed=1000 + i)).id
        for i in range(n)
    ]
    runs = wait_terminal(core, ids, timeout_s=n * (budget * 3 + 60))
    return measure(runs)


def single_agent(
    core: Any, principal: Any, track_id: str, n: int, budget: float, think_s: float
) -> dict:
    runs: list[Run] = []
    last_read = 0.0
    for i in range(n):
        if i:
            time.sleep(think_s)  # the agent reads the result and edits the file
        run = core.launch_run(principal, LaunchRunRequest(track_id=track_id, seed=2000 + i))
        runs.extend(wait_terminal(core, [run.id], timeout_s=budget * 3 + 60))
        last_read = time.time()
    return measure(runs, wall_end=last_read)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[20.0, 60.0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--think", type=float, default=10.0, help="single-agent pause (s)")
    parser.add_argument("--harness", default=None, help="harness dir (default: the demo)")
    parser.add_argument("--data-dir", default=None, help="keep the stack here (default: tmp)")
    args = parser.parse_args()

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="loopy-duty-"))
    env = dict(os.environ, LOOPY_DATA_DIR=str(data_dir), LOOPY_LOG_LEVEL="warning")
    for name in ("LOOPY_DATABASE_URL", "LOOPY_ARTIFACTS_URL", "LOOPY_BROKER_URL"):
        env.pop(name, None)
    settings = load_settings(environ=env)
    configure_logging(settings)
    core = build_core(settings)
    admin = core.authenticate(core.bootstrap_admin("bench").api_key)
    print(f"data dir {data_dir}; building/registering the harness...", flush=True)
    harness = core.create_harness(
        admin, CreateHarnessRequest(path=args.harness, demo=args.harness is None)
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--device", "cpu"],
        env=env,
        stdout=open(data_dir / "worker.log", "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    rows: list[tuple[float, str, dict]] = []
    try:
        for budget in args.budgets:
            track_id = f"duty-{int(budget)}s"
            core.create_track(
                admin,
                CreateTrackRequest(
                    track_id=track_id,
                    harness_id=harness.id,
                    time_budget_s=budget,
                    policy=DecisionPolicy(calibration_runs=1),
                ),
            )
            warm = core.list_runs(admin, track_id, None, 10, "").items
            wait_terminal(core, [r.id for r in warm], timeout_s=budget * 3 + 300)
            print(f"budget {budget:g} s: {args.runs} runs queued at once...", flush=True)
            rows.append(
                (budget, "queued (Loopy)", queued_at_once(core, admin, track_id, args.runs, budget))
            )
            print(f"budget {budget:g} s: {args.runs} runs single-agent...", flush=True)
            rows.append(
                (
                    budget,
                    f"single agent (+{args.think:g} s)",
                    single_agent(core, admin, track_id, args.runs, budget, args.think),
                )
            )
    finally:
        stop_process_tree(worker)
        core.meta.close()

    header = (
        f"{'budget':>6}  {'mode':<22} {'duty':>6} {'wall s':>7} {'train s':>8}"
        f"  median/run: {'queue':>6} {'start':>6} {'train':>6} {'eval':>6} {'upload':>6}"
    )
    print()
    print(header)
    print("-" * len(header))
    for budget, mode, row in rows:
        print(
            f"{budget:>5g}s  {mode:<22} {row['duty'] * 100:5.1f}% {row['wall_s']:7.1f}"
            f" {row['training_s']:8.1f}              {row['queue_wait_seconds']:6.2f}"
            f" {row['startup_seconds']:6.2f} {row['median_train_s']:6.2f}"
            f" {row['eval_seconds']:6.2f} {row['upload_seconds']:6.2f}"
        )
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
