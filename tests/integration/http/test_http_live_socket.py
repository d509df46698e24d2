"""Through a real uvicorn socket on loopback: SSE (replay, resume, live, keep-alive),
the served OpenAPI document, auth."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from service.domain.service import Loopy

# SPEC §2 (plus the listing/agent extras): path -> method -> operationId
EXPECTED_OPERATIONS = {
    "/v1/tracks/{track}/program": {"get": "GetProgram"},
    "/v1/tracks": {"post": "CreateTrack", "get": "ListTracks"},
    "/v1/tracks/{track}": {"get": "GetTrack"},
    "/v1/tracks/{track}/revisions": {"post": "ProposeEdit", "get": "ListRevisions"},
    "/v1/tracks/{track}/proposals": {"get": "ListProposals"},
    "/v1/revisions/{revision}": {"get": "GetRevision"},
    "/v1/runs": {"post": "LaunchRun"},
    "/v1/runs/{run}": {"get": "GetRun"},
    "/v1/tracks/{track}/runs": {"get": "ListRuns"},
    "/v1/runs/{run}/cancel": {"post": "CancelRun"},
    "/v1/runs/{run}/events": {"get": "WatchRun"},
    "/v1/runs/{run}/metrics": {"get": "GetMetrics"},
    "/v1/runs/{run}/logs": {"get": "GetRunLogs"},
    "/v1/runs/{run}/artifacts/{name}": {"get": "GetArtifact"},
    "/v1/runs/{run}/evaluations": {"post": "Evaluate"},
    "/v1/runs/{run}/evaluations/{evaluation}": {"get": "GetEvaluation"},
    "/v1/tracks/{track}/promote": {"post": "PromoteRun"},
    "/v1/tracks/{track}/head-changes": {"get": "ListHeadChanges"},
    "/v1/tracks/{track}/leaderboard": {"get": "GetLeaderboard"},
    "/v1/tracks/{track}/progress.png": {"get": "GetProgressChart"},
    "/v1/tracks/{track}/results.tsv": {"get": "ExportResults"},
    "/v1/harnesses": {"post": "CreateHarness", "get": "ListHarnesses"},
    "/v1/harnesses/{harness}": {"get": "GetHarness"},
    "/v1/agents": {"post": "CreateAgent"},
    "/v1/agents/{agent}": {"get": "GetAgent"},
    "/healthz": {"get": "Healthz"},
    "/readyz": {"get": "Readyz"},
    "/metrics": {"get": "PrometheusMetrics"},
}
UNAUTHENTICATED_PATHS = {"/healthz", "/readyz", "/metrics"}


def read_sse(response: httpx.Response) -> tuple[list[dict[str, Any]], int]:
    """Parse a text/event-stream until it ends: (events, keep-alive comments seen)."""
    events: list[dict[str, Any]] = []
    comments = 0
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if current:
                events.append(current)
                current = {}
            continue
        if line.startswith(":"):
            comments += 1
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            current["id"] = int(value)
        elif field == "event":
            current["event"] = value
        elif field == "data":
            current["data"] = json.loads(value)
    if current:
        events.append(current)
    return events, comments


def launch(http: httpx.Client, kit: Any, key: str) -> str:
    response = http.post("/v1/runs", json={"track_id": "http-track"}, headers=kit.auth(key))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def socket_track(
    http: httpx.Client, core: Loopy, kit: Any, admin_key: str, harness_id: str
) -> None:
    body = kit.track_body(harness_id, policy={"calibration_runs": 1})
    assert http.post("/v1/tracks", json=body, headers=kit.auth(admin_key)).status_code == 201
    kit.finish_queued_runs(core, "http-track", [1.0])


def test_sse_replays_then_resumes_with_last_event_id(
    http: httpx.Client, core: Loopy, kit: Any, agent_key: str, socket_track: None
) -> None:
    run_id = launch(http, kit, agent_key)
    kit.finish_run(core, run_id, 0.97, log_text="line one\n")
    url = f"/v1/runs/{run_id}/events"
    with http.stream("GET", url, headers=kit.auth(agent_key)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events, _ = read_sse(response)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and len(ids) >= 4
    kinds = {e["event"] for e in events}
    assert {"state", "metrics", "log"} <= kinds
    assert events[0]["event"] == "state" and events[0]["data"]["state"] == "QUEUED"
    assert events[-1]["event"] == "state" and events[-1]["data"]["state"] == "SUCCEEDED"

    resume_from = ids[1]
    with http.stream(
        "GET", url, headers={**kit.auth(agent_key), "Last-Event-ID": str(resume_from)}
    ) as response:
        resumed, _ = read_sse(response)
    assert resumed == events[2:]
    with http.stream(
        "GET", url, params={"after_seq": resume_from}, headers=kit.auth(agent_key)
    ) as response:
        assert read_sse(response)[0] == events[2:]


def test_sse_streams_live_events_with_keepalives(
    http: httpx.Client,
    core: Loopy,
    kit: Any,
    agent_key: str,
    socket_track: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.http.controllers.runs as runs_controller

    monkeypatch.setattr(runs_controller, "KEEPALIVE_S", 0.2)
    core.settings.watch_poll_s = 0.05
    run_id = launch(http, kit, agent_key)

    def worker() -> None:
        time.sleep(0.8)  # the stream is open and idle by now
        kit.finish_run(core, run_id, 0.99)

    thread = threading.Thread(target=worker)
    started = time.monotonic()
    with http.stream("GET", f"/v1/runs/{run_id}/events", headers=kit.auth(agent_key)) as response:
        thread.start()
        events, comments = read_sse(response)
    thread.join()
    assert comments >= 2, "an idle stream must carry keep-alive comments"
    assert time.monotonic() - started >= 0.8
    assert events[-1]["data"]["state"] == "SUCCEEDED"
    assert any(e["event"] == "metrics" for e in events)


def test_openapi_document_describes_every_operation(http: httpx.Client) -> None:
    response = http.get("/schema/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert "bearerAuth" in doc["components"]["securitySchemes"]
    assert "ProposeEdit" in doc["info"]["description"]
    seen = {
        path: {method: op["operationId"] for method, op in item.items()}
        for path, item in doc["paths"].items()
    }
    assert seen == EXPECTED_OPERATIONS
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            assert len(op.get("description", "")) > 40, where
            if path in UNAUTHENTICATED_PATHS:
                assert not op.get("security"), where
                continue
            assert op["security"] == [{"bearerAuth": []}], where
            problem = op["responses"]["401"]["content"]["application/problem+json"]
            assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}, where
            if "requestBody" in op:
                body = op["requestBody"]["content"]["application/json"]
                assert body["schema"].get("examples"), f"{where} needs a request example"
                for example in body["schema"]["examples"]:
                    assert_valid(doc, body["schema"]["allOf"][0], example, where)
            for status, response in op["responses"].items():
                for media in (response.get("content") or {}).values():
                    for example in (media.get("examples") or {}).values():
                        assert_valid(doc, media["schema"], example["value"], f"{where} {status}")


def assert_valid(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    """Documented examples must be valid against their own schema."""
    import jsonschema

    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(value)


def test_auth_over_the_socket(http: httpx.Client, kit: Any, agent_key: str) -> None:
    assert http.get("/healthz").status_code == 200
    denied = http.get("/v1/agents/me")
    assert denied.status_code == 401
    assert denied.headers["content-type"] == "application/problem+json"
    me = http.get("/v1/agents/me", headers=kit.auth(agent_key))
    assert me.status_code == 200 and me.json()["role"] == "agent"
