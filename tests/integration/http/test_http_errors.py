"""Each error of SPEC §8 over HTTP, as RFC 9457 problem JSON."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from service.domain.service import Loopy

Client = AsyncTestClient[Any]


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == "https://loopy.dev/problems/" + code.lower().replace("_", "-")
    assert problem["title"] and problem["detail"]
    assert problem["instance"] == response.request.url.path
    assert "Traceback" not in response.text
    return problem


@pytest.mark.parametrize(
    "path",
    [
        "/v1/runs/no-such-run",
        "/v1/tracks/no-such-track",
        "/v1/tracks/no-such-track/program",
        "/v1/revisions/" + "0" * 64,
        "/v1/harnesses/ffffffffffffffff",
        "/v1/runs/no-such-run/metrics",
        "/v1/runs/no-such-run/events",
    ],
)
async def test_unknown_ids_are_404(client: Client, kit: Any, agent_key: str, path: str) -> None:
    assert_problem(await client.get(path, headers=kit.auth(agent_key)), 404, "NOT_FOUND")


async def test_unknown_evaluation_and_artifact_are_404(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    run = await client.post(
        "/v1/runs", json={"track_id": "http-track"}, headers=kit.auth(agent_key)
    )
    run_id = run.json()["id"]
    missing = await client.get(f"/v1/runs/{run_id}/evaluations/nope", headers=kit.auth(agent_key))
    assert_problem(missing, 404, "NOT_FOUND")
    artifact = await client.get(
        f"/v1/runs/{run_id}/artifacts/checkpoint", headers=kit.auth(agent_key)
    )
    assert_problem(artifact, 404, "NOT_FOUND")


async def test_unknown_id_in_body_is_404(client: Client, kit: Any, agent_key: str) -> None:
    response = await client.post(
        "/v1/runs", json={"track_id": "no-such-track"}, headers=kit.auth(agent_key)
    )
    assert_problem(response, 404, "NOT_FOUND")


async def test_unknown_route_and_wrong_method(client: Client, kit: Any, agent_key: str) -> None:
    assert_problem(
        await client.get("/v1/nothing-here", headers=kit.auth(agent_key)), 404, "NOT_FOUND"
    )
    wrong = await client.delete("/v1/runs/some-run", headers=kit.auth(agent_key))
    assert_problem(wrong, 405, "METHOD_NOT_ALLOWED")


async def test_malformed_json_is_400(client: Client, kit: Any, agent_key: str) -> None:
    response = await client.post(
        "/v1/runs",
        content=b'{"track_id": "http-track",',
        headers={**kit.auth(agent_key), "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 400, "INVALID_ARGUMENT")
    assert "malformed" in problem["detail"].lower()


async def test_wrong_type_names_the_field(client: Client, kit: Any, agent_key: str) -> None:
    response = await client.post(
        "/v1/runs", json={"track_id": "http-track", "seed": "seven"}, headers=kit.auth(agent_key)
    )
    problem = assert_problem(response, 400, "INVALID_ARGUMENT")
    assert problem["details"]["field"] == "seed"
    assert "seed" in problem["detail"]


async def test_wrong_nested_type_names_the_path(
    client: Client, kit: Any, admin_key: str, harness_id: str
) -> None:
    body = kit.track_body(harness_id, policy={"k_sigma": "lots"})
    response = await client.post("/v1/tracks", json=body, headers=kit.auth(admin_key))
    problem = assert_problem(response, 400, "INVALID_ARGUMENT")
    assert problem["details"]["field"] == "policy.k_sigma"


async def test_missing_field_names_the_field(client: Client, kit: Any, agent_key: str) -> None:
    response = await client.post("/v1/runs", json={"seed": 1}, headers=kit.auth(agent_key))
    problem = assert_problem(response, 400, "INVALID_ARGUMENT")
    assert problem["details"]["field"] == "track_id"


async def test_bad_query_parameter_is_400(client: Client, kit: Any, agent_key: str) -> None:
    zero = await client.get("/v1/tracks?page_size=0", headers=kit.auth(agent_key))
    assert assert_problem(zero, 400, "INVALID_ARGUMENT")["details"]["field"] == "page_size"
    word = await client.get("/v1/tracks?page_size=many", headers=kit.auth(agent_key))
    assert assert_problem(word, 400, "INVALID_ARGUMENT")["details"]["field"] == "page_size"


async def test_bad_page_token_is_400(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    for path in ("/v1/tracks", "/v1/tracks/http-track/runs", "/v1/harnesses"):
        response = await client.get(
            path, params={"page_token": "not-a-token!"}, headers=kit.auth(agent_key)
        )
        assert_problem(response, 400, "INVALID_ARGUMENT")


async def test_oversize_body_is_413(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    huge = {"description": "x", "full_source": "#" * (kit.MAX_REQUEST_BYTES + 1)}
    response = await client.post(
        "/v1/tracks/http-track/revisions", json=huge, headers=kit.auth(agent_key)
    )
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")


async def test_refused_edit_says_why_and_is_kept(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/tracks/http-track/revisions",
        json={"search_replace": [{"search": "LEARNING_RATE = 1e-3", "replace": "x"}]},
        headers=kit.auth(agent_key),
    )
    problem = assert_problem(response, 400, "INVALID_ARGUMENT")
    assert problem["details"], "a refusal must say which block did not match"
    syntax = await client.post(
        "/v1/tracks/http-track/revisions",
        json={"full_source": "def build_model(:\n"},
        headers=kit.auth(agent_key),
    )
    assert_problem(syntax, 400, "INVALID_ARGUMENT")
    proposals = await client.get("/v1/tracks/http-track/proposals", headers=kit.auth(agent_key))
    assert [p["outcome"] for p in proposals.json()["proposals"]] == ["REJECTED", "REJECTED"]


async def test_cancel_a_finished_run_is_412(
    client: Client, core: Loopy, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    run = await client.post(
        "/v1/runs", json={"track_id": "http-track"}, headers=kit.auth(agent_key)
    )
    run_id = run.json()["id"]
    kit.finish_run(core, run_id, 1.0)
    response = await client.post(f"/v1/runs/{run_id}/cancel", headers=kit.auth(agent_key))
    problem = assert_problem(response, 412, "FAILED_PRECONDITION")
    assert problem["details"]["state"] == "SUCCEEDED"


JITTER = [0.0, 0.001, -0.002, 0.0015, 0.0, -0.001, 0.002, 0.0005]


async def test_stale_promotion_is_409_with_the_current_head(
    client: Client, core: Loopy, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    base = track["head_revision"]
    run_ids = []
    for new_lr in ("6e-4", "9e-4"):
        edit = await client.post(
            "/v1/tracks/http-track/revisions",
            json={
                "search_replace": [
                    {"search": "LEARNING_RATE = 3e-4", "replace": f"LEARNING_RATE = {new_lr}"}
                ]
            },
            headers=kit.auth(agent_key),
        )
        run = await client.post(
            "/v1/runs",
            json={"track_id": "http-track", "revision_id": edit.json()["revision"]["id"]},
            headers=kit.auth(agent_key),
        )
        kit.finish_run(core, run.json()["id"], 0.9)
        run_ids.append(run.json()["id"])
        # Promotion needs a KEEP against the head: both edits earn one from the same base.
        evaluation = await client.post(
            f"/v1/runs/{run.json()['id']}/evaluations", json={}, headers=kit.auth(agent_key)
        )
        done = kit.settle_evaluation(
            core, evaluation.json()["id"], lambda i: 0.9 + JITTER[i], lambda i: 1.0
        )
        assert done.verdict.value == "KEEP", done.reason
    first = await client.post(
        "/v1/tracks/http-track/promote",
        json={"run_id": run_ids[0], "expected_head_revision": base},
        headers=kit.auth(agent_key),
    )
    assert first.status_code == 200, first.text
    stale = await client.post(
        "/v1/tracks/http-track/promote",
        json={"run_id": run_ids[1], "expected_head_revision": base},
        headers=kit.auth(agent_key),
    )
    problem = assert_problem(stale, 409, "CONFLICT")
    assert problem["details"]["current_head"] == first.json()["head_revision"]


async def test_over_quota_is_429_with_retry_after(
    client: Client, kit: Any, admin_key: str, track: dict[str, Any]
) -> None:
    created = await client.post(
        "/v1/agents",
        json={"name": "tiny", "quota": {"max_queued_runs": 1, "max_compute_seconds": 1000}},
        headers=kit.auth(admin_key),
    )
    tiny = created.json()["api_key"]
    ok = await client.post("/v1/runs", json={"track_id": "http-track"}, headers=kit.auth(tiny))
    assert ok.status_code == 201
    refused = await client.post("/v1/runs", json={"track_id": "http-track"}, headers=kit.auth(tiny))
    problem = assert_problem(refused, 429, "RESOURCE_EXHAUSTED")
    assert int(refused.headers["retry-after"]) >= 1
    assert problem["retry_after_s"] > 0
    assert problem["details"]["quota"] == "max_queued_runs"


async def test_missing_and_bad_keys_are_401(client: Client, kit: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic abc"}):
        response = await client.get("/v1/tracks", headers=headers)
        assert_problem(response, 401, "UNAUTHENTICATED")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_agent_key_on_admin_endpoints_is_403(
    client: Client, kit: Any, agent_key: str, harness_id: str
) -> None:
    for path, body in (
        ("/v1/tracks", kit.track_body(harness_id, track_id="not-allowed")),
        ("/v1/agents", {"name": "sneaky", "role": "admin"}),
        ("/v1/harnesses", {"demo": True}),
    ):
        response = await client.post(path, json=body, headers=kit.auth(agent_key))
        assert_problem(response, 403, "PERMISSION_DENIED")


async def test_another_agents_run_cannot_be_cancelled(
    client: Client, kit: Any, admin_key: str, agent_key: str, track: dict[str, Any]
) -> None:
    mine = await client.post(
        "/v1/runs", json={"track_id": "http-track"}, headers=kit.auth(agent_key)
    )
    other = (
        await client.post("/v1/agents", json={"name": "other"}, headers=kit.auth(admin_key))
    ).json()["api_key"]
    response = await client.post(f"/v1/runs/{mine.json()['id']}/cancel", headers=kit.auth(other))
    assert_problem(response, 403, "PERMISSION_DENIED")


async def test_bad_last_event_id_is_400(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    run = await client.post(
        "/v1/runs", json={"track_id": "http-track"}, headers=kit.auth(agent_key)
    )
    response = await client.get(
        f"/v1/runs/{run.json()['id']}/events",
        headers={**kit.auth(agent_key), "Last-Event-ID": "yesterday"},
    )
    problem = assert_problem(response, 400, "INVALID_ARGUMENT")
    assert problem["details"]["field"] == "Last-Event-ID"


async def test_unexpected_fault_is_a_bare_500(
    client: Client, core: Loopy, kit: Any, agent_key: str
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    core.list_tracks = explode  # type: ignore[method-assign]
    response = await client.get("/v1/tracks", headers=kit.auth(agent_key))
    problem = assert_problem(response, 500, "INTERNAL")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert "details" not in problem


async def test_misspelt_query_parameter_is_400(client: Client, kit: Any, agent_key: str) -> None:
    response = await client.get("/v1/tracks?page_sise=5", headers=kit.auth(agent_key))
    problem = assert_problem(response, 400, "INVALID_ARGUMENT")
    assert problem["details"]["field"] == "page_sise"
    assert "page_size" in problem["details"]["known"]


async def test_unknown_body_fields_are_400(
    client: Client, kit: Any, agent_key: str, admin_key: str, harness_id: str
) -> None:
    typo = await client.post(
        "/v1/runs",
        json={"track_id": "http-track", "revison_id": "abc"},
        headers=kit.auth(agent_key),
    )
    assert assert_problem(typo, 400, "INVALID_ARGUMENT")["details"]["field"] == "revison_id"
    nested = await client.post(
        "/v1/tracks",
        json=kit.track_body(harness_id, policy={"k_sgima": 3}),
        headers=kit.auth(admin_key),
    )
    assert assert_problem(nested, 400, "INVALID_ARGUMENT")["details"]["field"] == "policy.k_sgima"
    harness = await client.post(
        "/v1/harnesses", json={"demo": True, "descripton": "typo"}, headers=kit.auth(admin_key)
    )
    assert assert_problem(harness, 400, "INVALID_ARGUMENT")["details"]["field"] == "descripton"
    # Without a key the answer is 401, whatever else is wrong with the request.
    anonymous = await client.post("/v1/runs", json={"revison_id": "abc"})
    assert_problem(anonymous, 401, "UNAUTHENTICATED")
