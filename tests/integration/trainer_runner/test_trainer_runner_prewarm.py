"""Pre-warmed children: started before the run is known, used for exactly one run."""

import os
import time
from pathlib import Path

from trainer.runner import RunConfig, prewarm, run


def _config(harness_dir: Path, out: Path, source: str, **overrides) -> RunConfig:
    settings = dict(
        harness_dir=str(harness_dir),
        train_source=source,
        budget_s=1.0,
        out_dir=str(out),
        threads=1,
        startup_allowance_s=60.0,
        grace_s=2.0,
        memory_limit_mb=4096,
    )
    settings.update(overrides)
    return RunConfig(**settings)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _processes_under(folder: Path) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if cwd.startswith(str(folder)):
                found.append(pid)
    return found


def test_warm_child_trains_the_run_and_its_startup_excludes_the_spawn(
    harness_dir, bigram, tmp_path
):
    config = _config(harness_dir, tmp_path / "out", bigram)
    warm = prewarm(config, tmp_path)
    pid = warm.train.pid
    assert warm.wait_ready(120), "the warm child never finished importing torch"
    time.sleep(1.5)  # idle waiting is on no clock: a 1 s budget would be long gone
    result = run(config, warm=warm)
    assert result.state == "SUCCEEDED", result.failure_message
    assert result.val_bpb is not None and result.val_bpb > 0
    assert result.sandbox["prewarmed"] is True
    assert result.sandbox["train_pid"] == pid
    assert not _alive(pid)
    # the run's folder holds what a cold run's does; the warm folder is gone
    assert (tmp_path / "out" / "checkpoint.pt").is_file()  # the trusted copy
    assert "--- training ---" in Path(result.log_path).read_text()
    assert not list(tmp_path.glob("warm-*"))
    assert not _processes_under(tmp_path)


def test_mismatched_warm_children_are_killed_and_the_run_starts_cold(harness_dir, bigram, tmp_path):
    warm = prewarm(_config(harness_dir, tmp_path / "x", bigram, threads=1), tmp_path)
    pids = [warm.train.pid, warm.eval.pid]
    result = run(_config(harness_dir, tmp_path / "out", bigram, threads=2), warm=warm)
    assert result.state == "SUCCEEDED", result.failure_message
    assert result.sandbox["prewarmed"] is False
    assert result.sandbox["train_pid"] not in pids
    assert not any(_alive(pid) for pid in pids)
    assert not list(tmp_path.glob("warm-*"))
    assert not _processes_under(tmp_path)


def test_unused_warm_children_are_killed_on_close(harness_dir, bigram, tmp_path):
    warm = prewarm(_config(harness_dir, tmp_path / "out", bigram), tmp_path)
    pids = [warm.train.pid, warm.eval.pid]
    assert all(_alive(pid) for pid in pids)
    warm.close()
    warm.close()  # idempotent
    assert not any(_alive(pid) for pid in pids)
    assert not list(tmp_path.glob("warm-*"))
    assert not _processes_under(tmp_path)


def test_hostile_train_file_in_a_warm_child_still_times_out(harness_dir, tmp_path):
    source = """
def build_model(config):
    pass

def train(ctx):
    step = 0
    while True:
        ctx.report(step, loss=1.0)
        step += 1
"""
    config = _config(harness_dir, tmp_path / "out", source, startup_allowance_s=3.0, grace_s=1.0)
    warm = prewarm(config, tmp_path)
    assert warm.wait_ready(120)
    t0 = time.monotonic()
    result = run(config, warm=warm)
    elapsed = time.monotonic() - t0
    assert result.sandbox["prewarmed"] is True
    assert result.failure_reason == "TIMEOUT", result.failure_message
    assert elapsed < 1.0 + 3.0 + 1.0 + 3.0
    assert not _processes_under(tmp_path)


def _niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(") ", 1)[1].split()[16])


def _group_members(pgid: int) -> list[int]:
    members = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(") ", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(pid))
    return members


def test_warm_children_wait_at_lowest_priority_and_train_at_normal_priority(
    harness_dir, bigram, tmp_path
):
    # The train file reports its own niceness as a metric: a warm child imports torch
    # niced (so it does not slow the evaluation finishing on the same cores), but the
    # run itself must train at normal priority or its budget buys less compute.
    source = bigram.replace(
        "ctx.report(step, loss=loss.item())",
        "ctx.report(step, loss=loss.item(), niceness=float(os.getpriority(os.PRIO_PROCESS, 0)))",
    )
    source = "import os\n" + source
    config = _config(harness_dir, tmp_path / "out", source)
    warm = prewarm(config, tmp_path)
    assert warm.wait_ready(120)
    members = _group_members(warm.train.pid) + _group_members(warm.eval.pid)
    assert members and all(_niceness(pid) == 19 for pid in members)
    points: list[dict] = []
    result = run(config, warm=warm, on_metrics=points.extend)
    assert result.state == "SUCCEEDED", result.failure_message
    niceness = {p["value"] for p in points if p["name"] == "niceness"}
    assert niceness == {0.0}
