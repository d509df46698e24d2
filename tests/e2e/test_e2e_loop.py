"""The whole research loop on `loopy up`: curl lines, HTTP with SSE, gRPC with
WatchRun, then Ctrl-C and a restart that finds everything again."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from typing import Any

import grpc
import httpx
import pytest

from service.grpc.gen.loopy.v1 import loopy_service_pb2 as pb
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as pb_grpc
from service.grpc.gen.loopy.v1 import resources_pb2 as res

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(up_factory):  # type: ignore[no-untyped-def]
    return up_factory()


def _client(up) -> httpx.Client:  # type: ignore[no-untyped-def]
    return httpx.Client(
        base_url=up.base_url, headers={"Authorization": f"Bearer {up.key}"}, timeout=30
    )


def _wait(predicate, timeout_s: float, what: str) -> Any:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _calibrated(client: httpx.Client) -> None:
    runs = client.get("/v1/tracks/baseline/runs", params={"page_size": 50}).json()["runs"]
    calibration = [r for r in runs if r["purpose"] == "CALIBRATION"]
    assert calibration, runs

    def done() -> bool:
        states = [client.get(f"/v1/runs/{r['id']}").json()["state"] for r in calibration]
        assert "FAILED" not in states and "CANCELLED" not in states, states
        return all(s == "SUCCEEDED" for s in states)

    _wait(done, 240, "the calibration runs")
    assert client.get("/v1/tracks/baseline").json()["noise_samples"] == len(calibration)


def _sse_events(client: httpx.Client, run_id: str) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    kind, data = "", ""
    with client.stream("GET", f"/v1/runs/{run_id}/events", timeout=180) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data += line.partition(":")[2].strip()
            elif line == "" and kind:
                events.append((kind, json.loads(data)))
                if kind == "state" and events[-1][1]["state"] in TERMINAL:
                    break
                kind, data = "", ""
    return events


def test_printed_curl_lines_work(up) -> None:  # type: ignore[no-untyped-def]
    lines = up.curl_lines()
    assert len(lines) == 3
    assert up.key in up.banner
    assert oct((up.data_dir / "admin.key").stat().st_mode & 0o777) == "0o600"
    for line in lines:
        out = subprocess.run(
            [*shlex.split(line), "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30
        )
        body, _, status = out.stdout.rpartition("\n")
        assert status in {"200", "201"}, (line, status, body)
        json.loads(body)


def test_research_loop_over_http(up) -> None:  # type: ignore[no-untyped-def]
    with _client(up) as client:
        _calibrated(client)
        proposed = client.post(
            "/v1/tracks/baseline/revisions",
            json={
                "description": "shorter warm-down",
                "search_replace": [
                    {"search": "WARMDOWN_RATIO = 0.5", "replace": "WARMDOWN_RATIO = 0.4"}
                ],
            },
        )
        assert proposed.status_code == 201, proposed.text
        revision_id = proposed.json()["revision"]["id"]

        launched = client.post(
            "/v1/runs", json={"track_id": "baseline", "revision_id": revision_id}
        )
        assert launched.status_code == 201, launched.text
        run_id = launched.json()["id"]

        events = _sse_events(client, run_id)
        kinds = [kind for kind, _ in events]
        assert "metrics" in kinds
        assert events[-1][0] == "state" and events[-1][1]["state"] == "SUCCEEDED", events[-1]

        metrics = client.get(f"/v1/runs/{run_id}/metrics", params={"names": "loss"}).json()
        assert metrics["points"] and all(p["name"] == "loss" for p in metrics["points"])

        # One pair (the run and a reference twin of its seed) keeps the e2e short; one pair
        # can never be decisive, so the verdict is DISCARD or INCONCLUSIVE.
        evaluation = client.post(
            f"/v1/runs/{run_id}/evaluations", json={"replicates": 1, "max_pairs": 1}
        )
        assert evaluation.status_code == 201, evaluation.text
        evaluation_id = evaluation.json()["id"]
        done = _wait(
            lambda: (
                e
                if (e := client.get(f"/v1/runs/{run_id}/evaluations/{evaluation_id}").json())[
                    "state"
                ]
                != "PENDING"
                else None
            ),
            180,
            "the evaluation",
        )
        assert done["state"] == "DONE", done
        assert done["verdict"] in {"DISCARD", "INCONCLUSIVE", "CONFOUNDED"}, done
        assert done["candidate"]["n"] == 1 and done["pairs"][0]["seed"] == done_seed(client, run_id)
        # The worker measured the machine's speed before each run trained.
        assert all(p["candidate_speed"] and p["reference_speed"] for p in done["pairs"])

        refused = client.post("/v1/tracks/baseline/promote", json={"run_id": run_id})
        assert refused.status_code == 412, refused.text
        promoted = client.post(
            "/v1/tracks/baseline/promote",
            json={"run_id": run_id, "force": True, "reason": "e2e: exercise a forced promotion"},
        )
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["head_revision"] == revision_id
        changes = client.get("/v1/tracks/baseline/head-changes").json()["head_changes"]
        assert changes[-1]["forced"] and changes[-1]["reason"].startswith("e2e")


def done_seed(client: Any, run_id: str) -> int:
    return int(client.get(f"/v1/runs/{run_id}").json()["seed"])


def test_research_loop_over_grpc(up) -> None:  # type: ignore[no-untyped-def]
    metadata = (("authorization", f"Bearer {up.key}"),)
    with grpc.insecure_channel(f"127.0.0.1:{up.grpc_port}") as channel:
        stub = pb_grpc.LoopyServiceStub(channel)
        proposed = stub.ProposeEdit(
            pb.ProposeEditRequest(
                track_id="baseline",
                description="a little final learning rate",
                search_replace=res.SearchReplaceEdit(
                    blocks=[
                        res.SearchReplaceBlock(
                            search="FINAL_LR_FRAC = 0.0", replace="FINAL_LR_FRAC = 0.05"
                        )
                    ]
                ),
            ),
            metadata=metadata,
        )
        revision_id = proposed.revision.id
        run = stub.LaunchRun(
            pb.LaunchRunRequest(track_id="baseline", revision_id=revision_id), metadata=metadata
        ).run

        last_state = None
        saw_metrics = False
        for response in stub.WatchRun(
            pb.WatchRunRequest(run_id=run.id), metadata=metadata, timeout=180
        ):
            event = response.event
            if event.type == res.RUN_EVENT_TYPE_METRICS:
                saw_metrics = saw_metrics or len(event.metrics.points) > 0
            elif event.type == res.RUN_EVENT_TYPE_STATE:
                last_state = event.run.state
        assert saw_metrics
        assert last_state == res.RUN_STATE_SUCCEEDED

        metrics = stub.GetMetrics(
            pb.GetMetricsRequest(run_id=run.id, names=["loss"]), metadata=metadata
        )
        assert metrics.points

        evaluation = stub.Evaluate(
            pb.EvaluateRequest(run_id=run.id, replicates=1, max_pairs=1), metadata=metadata
        ).evaluation

        def finished():  # type: ignore[no-untyped-def]
            got = stub.GetEvaluation(
                pb.GetEvaluationRequest(run_id=run.id, evaluation_id=evaluation.id),
                metadata=metadata,
            ).evaluation
            return got if got.state != res.EVALUATION_STATE_PENDING else None

        done = _wait(finished, 180, "the evaluation")
        assert done.state == res.EVALUATION_STATE_DONE
        assert done.verdict != res.VERDICT_UNSPECIFIED and done.pairs_used <= 1

        # One pair is never a KEEP: the head moves only when an admin forces it, with a reason.
        with pytest.raises(grpc.RpcError) as refused:
            stub.PromoteRun(
                pb.PromoteRunRequest(track_id="baseline", run_id=run.id), metadata=metadata
            )
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        track = stub.PromoteRun(
            pb.PromoteRunRequest(
                track_id="baseline", run_id=run.id, force=True, reason="e2e over gRPC"
            ),
            metadata=metadata,
        ).track
        assert track.head_revision == revision_id


def test_ctrl_c_leaves_nothing_and_a_restart_finds_everything(up, up_factory) -> None:  # type: ignore[no-untyped-def]
    with _client(up) as client:
        head_before = client.get("/v1/tracks/baseline").json()["head_revision"]
        # Leave a run training so that Ctrl-C has a child to clean up.
        run_id = client.post("/v1/runs", json={"track_id": "baseline"}).json()["id"]
        _wait(lambda: client.get(f"/v1/runs/{run_id}").json()["state"] != "QUEUED", 60, "a start")
    key = up.key

    assert up.interrupt() == []
    assert up.proc.returncode == 0

    again = up_factory()
    assert again.key == key
    with _client(again) as client:
        track = client.get("/v1/tracks/baseline")
        assert track.status_code == 200
        assert track.json()["head_revision"] == head_before
        assert client.get(f"/v1/runs/{run_id}").status_code == 200
    assert again.interrupt() == []
