"""The human CLI against a real `loopy up`: every command, its --json shape, and the
errors a person meets (unknown id, no key, no service), with no flag or variable
but the data dir."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module")
def up(up_factory, wait_for_calibration):  # type: ignore[no-untyped-def]
    started = up_factory()
    wait_for_calibration(started)
    return started


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def test_read_commands(up, loopy_cli) -> None:  # type: ignore[no-untyped-def]
    tracks = as_json(loopy_cli(up.data_dir, "tracks", "--json"))
    assert [t["id"] for t in tracks["tracks"]] == ["baseline"]
    table = ok(loopy_cli(up.data_dir, "tracks"))
    assert "baseline" in table and tracks["tracks"][0]["head_revision"][:12] in table

    program = as_json(loopy_cli(up.data_dir, "program", "baseline", "--json"))
    assert {"text", "head_revision", "metric", "time_budget_s"} <= set(program)
    assert program["text"].strip() in ok(loopy_cli(up.data_dir, "program", "baseline"))

    runs = as_json(loopy_cli(up.data_dir, "runs", "baseline", "--json"))
    calibration = [r for r in runs["runs"] if r["purpose"] == "CALIBRATION"]
    assert calibration and all(r["state"] == "SUCCEEDED" for r in calibration)
    listing = ok(loopy_cli(up.data_dir, "runs", "baseline"))
    assert all(r["id"] in listing for r in calibration)  # ids whole, to copy


def test_propose_launch_watch_evaluate(up, loopy_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    head = as_json(loopy_cli(up.data_dir, "program", "baseline", "--json"))["head_revision"]

    # --replace, human output: the revision id and the next command.
    said = ok(
        loopy_cli(
            up.data_dir,
            "propose",
            "baseline",
            "--replace",
            "WARMDOWN_RATIO = 0.5",
            "WARMDOWN_RATIO = 0.45",
            "-m",
            "shorter warm-down",
        )
    )
    revision = said.split()[1]
    assert len(revision) == 64 and f"loopy launch baseline {revision}" in said

    # --diff and --file, --json: the ProposeEditResult.
    source = as_json(loopy_cli(up.data_dir, "program", "baseline", "--json"))
    assert source["head_revision"] == head
    diff = tmp_path / "edit.diff"
    diff.write_text(
        "--- a/train.py\n+++ b/train.py\n@@ -1 +1,2 @@\n"
        + _first_line(up, head)
        + "+# a comment, behaviourally the same file\n"
    )
    by_diff = as_json(
        loopy_cli(
            up.data_dir, "propose", "baseline", "--diff", str(diff), "-m", "a comment", "--json"
        )
    )
    assert {"revision", "already_exists", "proposal_id", "rebased"} <= set(by_diff)
    whole = tmp_path / "train.py"
    whole.write_text(by_diff["revision"]["source"])
    again = as_json(
        loopy_cli(up.data_dir, "propose", "baseline", "--file", str(whole), "-m", "same", "--json")
    )
    assert again["revision"]["id"] == by_diff["revision"]["id"] and again["already_exists"]

    launched = as_json(loopy_cli(up.data_dir, "launch", "baseline", revision, "--json"))
    assert launched["revision_id"] == revision and launched["state"] in {"QUEUED", "RUNNING"}
    watched = ok(loopy_cli(up.data_dir, "watch", launched["id"], timeout_s=300))
    assert f"run {launched['id']}: SUCCEEDED" in watched and "val_bpb" in watched
    assert "tok/s" in watched and "step" in watched  # the live line, left on screen
    finished = as_json(loopy_cli(up.data_dir, "watch", launched["id"], "--json"))
    assert finished["state"] == "SUCCEEDED" and finished["summary"]["val_bpb"] > 0

    logs = as_json(loopy_cli(up.data_dir, "logs", launched["id"], "--json"))
    assert logs["run_id"] == launched["id"] and "step" in logs["text"]
    assert logs["text"][-200:] in ok(loopy_cli(up.data_dir, "logs", launched["id"]))

    evaluation = as_json(
        loopy_cli(
            up.data_dir,
            "evaluate",
            launched["id"],
            "--wait",
            "--replicates",
            "2",
            "--json",
            timeout_s=400,
        )
    )
    assert evaluation["state"] != "PENDING" and evaluation["run_id"] == launched["id"]
    assert evaluation["verdict"] and evaluation["candidate"]["n"] >= 2

    board = as_json(loopy_cli(up.data_dir, "leaderboard", "baseline", "--json"))
    assert revision in {e["revision_id"] for e in board["entries"]}
    assert "shorter warm-down" in ok(loopy_cli(up.data_dir, "leaderboard", "baseline"))

    tsv = ok(loopy_cli(up.data_dir, "results", "baseline"))
    header, *rows = tsv.splitlines()
    assert header.split("\t")[0] == "run_id" and any(launched["id"] in r for r in rows)
    results = as_json(loopy_cli(up.data_dir, "results", "baseline", "--json"))
    assert launched["id"] in {r["run_id"] for r in results["results"]}

    chart = tmp_path / "progress.png"
    said = as_json(loopy_cli(up.data_dir, "chart", "baseline", "-o", str(chart), "--json"))
    assert said["bytes"] == chart.stat().st_size and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _first_line(up, revision: str) -> str:  # type: ignore[no-untyped-def]
    import httpx

    answer = httpx.get(
        f"{up.base_url}/v1/revisions/{revision}",
        headers={"Authorization": f"Bearer {up.key}"},
        timeout=10,
    ).json()
    return " " + answer["revision"]["source"].splitlines()[0] + "\n"


def test_promote_and_cancel(up, loopy_cli) -> None:  # type: ignore[no-untyped-def]
    track = as_json(loopy_cli(up.data_dir, "program", "baseline", "--json"))
    head_run = as_json(loopy_cli(up.data_dir, "tracks", "--json"))["tracks"][0]["head_run_id"]
    promoted = as_json(loopy_cli(up.data_dir, "promote", "baseline", head_run, "--json"))
    assert promoted["head_revision"] == track["head_revision"]  # the head already: idempotent

    queued = as_json(loopy_cli(up.data_dir, "launch", "baseline", "--json"))
    cancelled = as_json(loopy_cli(up.data_dir, "cancel", queued["id"], "--json"))
    assert cancelled["id"] == queued["id"]
    refused = loopy_cli(up.data_dir, "promote", "baseline", queued["id"])
    watched = loopy_cli(up.data_dir, "watch", queued["id"], "--json", timeout_s=120)
    final = json.loads(watched.stdout)
    assert watched.returncode == (0 if final["state"] == "SUCCEEDED" else 1)  # scripts can tell
    if final["state"] != "SUCCEEDED":  # cancelled before it finished: not promotable
        assert refused.returncode == 1
        assert "error: FAILED_PRECONDITION" in refused.stderr
        assert "what to do:" in refused.stderr


def test_errors_say_code_detail_and_what_to_do(up, loopy_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = loopy_cli(up.data_dir, "launch", "no-such-track")
    assert missing.returncode == 1 and missing.stdout == ""
    lines = missing.stderr.splitlines()
    assert lines[0].startswith("error: NOT_FOUND: ") and "no-such-track" in lines[0]
    assert any(line.strip().startswith("what to do: ") for line in lines)

    as_json_error = loopy_cli(up.data_dir, "runs", "no-such-track", "--json")
    problem = json.loads(as_json_error.stderr)["error"]
    assert as_json_error.returncode == 1
    assert problem["code"] == "NOT_FOUND" and problem["status"] == 404 and problem["next_step"]

    rejected = loopy_cli(
        up.data_dir, "propose", "baseline", "--replace", "NOT IN THE FILE", "x", "-m", "no"
    )
    assert rejected.returncode == 1 and "error: INVALID_ARGUMENT" in rejected.stderr
    assert "details:" in rejected.stderr  # which block did not match

    no_key = loopy_cli(tmp_path, "tracks")  # an empty data dir: no admin.key, no service
    assert no_key.returncode == 1 and "error: NO_API_KEY" in no_key.stderr
    assert "loopy up" in no_key.stderr

    wrong_key = loopy_cli(up.data_dir, "tracks", LOOPY_API_KEY="loopy_not-a-key")
    assert wrong_key.returncode == 1 and "error: UNAUTHENTICATED" in wrong_key.stderr

    nobody = loopy_cli(up.data_dir, "tracks", "--json", LOOPY_URL="http://127.0.0.1:9")
    assert nobody.returncode == 1
    assert json.loads(nobody.stderr)["error"]["code"] == "UNREACHABLE"

    usage = loopy_cli(up.data_dir, "propose", "baseline", "-m", "no edit given")
    assert usage.returncode == 2


def test_keys_and_config_share_the_data_dir(up, loopy_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = as_json(loopy_cli(up.data_dir, "config", "--json"))
    assert config["effective"]["data_dir"] == str(up.data_dir)
    assert config["effective"]["running_service"] == up.base_url

    used = loopy_cli(up.data_dir, "keys", "create", "--name", "agent-cli")
    key = ok(used).strip()
    assert "warning" not in used.stderr
    assert as_json(loopy_cli(up.data_dir, "tracks", "--json", LOOPY_API_KEY=key))["tracks"]

    unused = loopy_cli(tmp_path / "elsewhere", "keys", "create", "--name", "agent-lost")
    assert unused.returncode == 0
    assert "warning: no running Loopy service uses" in unused.stderr
    assert str(tmp_path / "elsewhere") in unused.stderr
