"""Every capability of SPEC §2 through HTTP, on the in-memory store and on SQLite."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from service.domain.service import Loopy
from tests.support.fakes import RecordingDispatcher

Client = AsyncTestClient[Any]


LR_EDIT = [{"search": "LEARNING_RATE = 3e-4", "replace": "LEARNING_RATE = 6e-4"}]


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def propose(
    kit: Any, client: Client, key: str, blocks: list[dict[str, str]], **extra: Any
) -> Any:
    body = {"description": "double the learning rate", "search_replace": blocks, **extra}
    response = await client.post(
        "/v1/tracks/http-track/revisions", json=body, headers=kit.auth(key)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def launch(kit: Any, client: Client, key: str, revision_id: str, **extra: Any) -> Any:
    body = {"track_id": "http-track", "revision_id": revision_id, **extra}
    response = await client.post("/v1/runs", json=body, headers=kit.auth(key))
    assert response.status_code == 201, response.text
    return response.json()


async def test_tracks_program_and_harnesses(
    kit: Any, client: Client, admin_key: str, agent_key: str, harness_id: str, track: dict[str, Any]
) -> None:
    assert track["id"] == "http-track"
    assert track["harness_id"] == harness_id
    assert track["head_revision"] == track["baseline_revision"]
    assert track["noise_samples"] == 2 and track["noise_std"] is not None

    program = (
        await client.get("/v1/tracks/http-track/program", headers=kit.auth(agent_key))
    ).json()
    assert program["track_id"] == "http-track"
    assert program["head_revision"] == track["head_revision"]
    assert program["metric"] == "val_bpb" and program["text"]

    second = kit.track_body(harness_id, track_id="http-track-2", policy={"calibration_runs": 1})
    assert (
        await client.post("/v1/tracks", json=second, headers=kit.auth(admin_key))
    ).status_code == 201
    first_page = await client.get("/v1/tracks?page_size=1", headers=kit.auth(agent_key))
    assert first_page.status_code == 200
    body = first_page.json()
    assert len(body["tracks"]) == 1 and body["next_page_token"]
    rest = await client.get(
        "/v1/tracks",
        params={"page_size": 1, "page_token": body["next_page_token"]},
        headers=kit.auth(agent_key),
    )
    ids = {body["tracks"][0]["id"], rest.json()["tracks"][0]["id"]}
    assert ids == {"http-track", "http-track-2"}
    assert rest.json()["next_page_token"] == ""

    harnesses = (await client.get("/v1/harnesses", headers=kit.auth(agent_key))).json()
    assert [h["id"] for h in harnesses["harnesses"]] == [harness_id]
    harness = (await client.get(f"/v1/harnesses/{harness_id}", headers=kit.auth(agent_key))).json()
    assert harness["metric"] == "val_bpb" and harness["vocab_size"] == 256


async def test_research_loop_end_to_end(
    kit: Any, client: Client, core: Loopy, agent_key: str, track: dict[str, Any]
) -> None:
    """Propose -> launch -> worker finishes -> metrics/logs -> evaluate -> promote -> history."""
    proposed = await propose(kit, client, agent_key, LR_EDIT, request_id="edit-1")
    revision = proposed["revision"]
    assert proposed["already_exists"] is False
    assert revision["parent_id"] == track["head_revision"]
    assert "+LEARNING_RATE = 6e-4" in revision["diff_to_parent"]

    view = (await client.get(f"/v1/revisions/{revision['id']}", headers=kit.auth(agent_key))).json()
    assert view["revision"]["source"].count("LEARNING_RATE = 6e-4") == 1
    assert view["stats_to_baseline"] == {"lines_added": 1, "lines_removed": 1}
    parent = (
        await client.get(f"/v1/revisions/{track['head_revision']}", headers=kit.auth(agent_key))
    ).json()
    assert revision["id"] in parent["children"]

    revisions = (
        await client.get("/v1/tracks/http-track/revisions", headers=kit.auth(agent_key))
    ).json()
    assert revision["id"] in [r["id"] for r in revisions["revisions"]]
    proposals = (
        await client.get("/v1/tracks/http-track/proposals", headers=kit.auth(agent_key))
    ).json()
    assert [p["outcome"] for p in proposals["proposals"]] == ["ACCEPTED"]

    run = await launch(kit, client, agent_key, revision["id"], seed=7)
    assert run["state"] == "QUEUED" and run["seed"] == 7
    got = (await client.get(f"/v1/runs/{run['id']}", headers=kit.auth(agent_key))).json()
    assert got["state"] == "QUEUED"

    kit.finish_run(core, run["id"], 0.950, steps=5, log_text="hello from train.py\n")
    done = (await client.get(f"/v1/runs/{run['id']}", headers=kit.auth(agent_key))).json()
    assert done["state"] == "SUCCEEDED"
    assert done["summary"]["val_bpb"] == pytest.approx(0.950)

    metrics = (
        await client.get(f"/v1/runs/{run['id']}/metrics", headers=kit.auth(agent_key))
    ).json()
    assert len(metrics["points"]) == 10
    only_loss = await client.get(
        f"/v1/runs/{run['id']}/metrics",
        params={"since_step": 3, "names": "loss"},
        headers=kit.auth(agent_key),
    )
    assert [(p["step"], p["name"]) for p in only_loss.json()["points"]] == [
        (3, "loss"),
        (4, "loss"),
    ]

    logs = (await client.get(f"/v1/runs/{run['id']}/logs", headers=kit.auth(agent_key))).json()
    assert "hello from train.py" in logs["text"]

    artifact = await client.get(f"/v1/runs/{run['id']}/artifacts/log", headers=kit.auth(agent_key))
    assert artifact.status_code == 200
    assert artifact.content == b"hello from train.py\n"
    assert len(artifact.headers["x-content-sha256"]) == 64

    runs = (
        await client.get("/v1/tracks/http-track/runs?state=SUCCEEDED", headers=kit.auth(agent_key))
    ).json()
    assert run["id"] in [r["id"] for r in runs["runs"]]

    # No evaluation yet: the head does not move, whoever asks.
    refused = await client.post(
        "/v1/tracks/http-track/promote",
        json={"run_id": run["id"], "expected_head_revision": track["head_revision"]},
        headers=kit.auth(agent_key),
    )
    assert refused.status_code == 412, refused.text
    assert refused.json()["details"]["current_head"] == track["head_revision"]
    not_admin = await client.post(
        "/v1/tracks/http-track/promote",
        json={"run_id": run["id"], "force": True, "reason": "trust me"},
        headers=kit.auth(agent_key),
    )
    assert not_admin.status_code == 403, not_admin.text

    evaluation = await client.post(
        f"/v1/runs/{run['id']}/evaluations",
        json={"request_id": "eval-1"},
        headers=kit.auth(agent_key),
    )
    assert evaluation.status_code == 201, evaluation.text
    body = evaluation.json()
    evaluation_id = body["id"]
    # Pair 0 is the run with a reference twin of its seed; replicates=2 adds one pair.
    assert body["state"] == "PENDING" and len(body["pairs"]) == 2
    assert body["pairs"][0]["candidate_run_id"] == run["id"] and body["pairs"][0]["seed"] == 7
    assert body["level"] > 0 and body["threshold"] == pytest.approx(1 / body["level"])
    jitter = [0.001, -0.002, 0.0015, 0.0, -0.001, 0.002, 0.0005, -0.0005]
    kit.settle_evaluation(
        core, evaluation_id, lambda i: 0.95 + (0 if i == 0 else jitter[i]), lambda i: 1.0
    )
    judged = (
        await client.get(
            f"/v1/runs/{run['id']}/evaluations/{evaluation_id}", headers=kit.auth(agent_key)
        )
    ).json()
    assert judged["state"] == "DONE"
    assert judged["verdict"] == "KEEP", judged["reason"]
    assert judged["delta"] > 0 and judged["e_value"] >= judged["threshold"]
    assert judged["pairs_used"] == len(judged["pairs"]) <= 8
    assert judged["interval_low"] < judged["delta"] < judged["interval_high"]
    assert judged["speed"]["speed_ratio"] == pytest.approx(1.0)
    assert judged["speed"]["confounded"] is False

    promoted = await client.post(
        "/v1/tracks/http-track/promote",
        json={"run_id": run["id"], "expected_head_revision": track["head_revision"]},
        headers=kit.auth(agent_key),
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["head_revision"] == revision["id"]
    budget = promoted.json()["error_budget"]
    assert (budget["rule"], budget["tests"], budget["discoveries"]) == ("LORD++", 1, 1)

    changes = (
        await client.get("/v1/tracks/http-track/head-changes", headers=kit.auth(agent_key))
    ).json()
    assert [c["to_revision"] for c in changes["head_changes"]] == [
        track["head_revision"],
        revision["id"],
    ]
    assert changes["head_changes"][1]["evaluation_id"] == evaluation_id
    assert changes["head_changes"][1]["forced"] is False and changes["next_page_token"] == ""

    board = (
        await client.get("/v1/tracks/http-track/leaderboard", headers=kit.auth(agent_key))
    ).json()
    assert board["entries"][0]["revision_id"] == revision["id"]
    assert board["entries"][0]["is_head"] is True

    tsv = await client.get("/v1/tracks/http-track/results.tsv", headers=kit.auth(agent_key))
    assert tsv.status_code == 200
    assert tsv.headers["content-type"].startswith("text/tab-separated-values")
    assert run["id"] in tsv.text and "\t" in tsv.text.splitlines()[0]
    statuses = {line.split("\t")[0]: line.split("\t")[4] for line in tsv.text.splitlines()[1:]}
    assert statuses[run["id"]] == "keep" and "0.000000" not in tsv.text

    png = await client.get("/v1/tracks/http-track/progress.png", headers=kit.auth(agent_key))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")


async def test_cancel_run_reaches_the_dispatcher(
    kit: Any, client: Client, core: Loopy, agent_key: str, track: dict[str, Any]
) -> None:
    run = await launch(kit, client, agent_key, track["head_revision"])
    dispatcher = core.dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)
    assert run["id"] in dispatcher.submitted_ids
    cancelled = await client.post(f"/v1/runs/{run['id']}/cancel", headers=kit.auth(agent_key))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "CANCELLED"
    assert run["id"] in dispatcher.cancelled_ids


async def test_proposing_existing_source_returns_it(
    kit: Any, client: Client, agent_key: str, track: dict[str, Any]
) -> None:
    first = await propose(kit, client, agent_key, LR_EDIT)
    again = await propose(kit, client, agent_key, LR_EDIT)
    assert again["revision"]["id"] == first["revision"]["id"]
    assert again["already_exists"] is True

    full = await client.post(
        "/v1/tracks/http-track/revisions",
        json={"description": "baseline again", "full_source": kit.BASELINE_SOURCE},
        headers=kit.auth(agent_key),
    )
    assert full.status_code == 201
    assert full.json()["revision"]["id"] == track["baseline_revision"]
    assert full.json()["already_exists"] is True


async def test_agents_create_and_whoami(
    kit: Any, client: Client, admin_key: str, agent_key: str
) -> None:
    created = await client.post(
        "/v1/agents",
        json={"name": "agent-7", "quota": {"max_queued_runs": 2, "max_compute_seconds": 100}},
        headers=kit.auth(admin_key),
    )
    assert created.status_code == 201, created.text
    new_key = created.json()["api_key"]
    me = (await client.get("/v1/agents/me", headers=kit.auth(new_key))).json()
    assert me["name"] == "agent-7" and me["role"] == "agent"
    assert me["quota"]["max_queued_runs"] == 2
    as_admin = await client.get(f"/v1/agents/{me['id']}", headers=kit.auth(admin_key))
    assert as_admin.status_code == 200 and as_admin.json()["id"] == me["id"]
    other = await client.get(f"/v1/agents/{me['id']}", headers=kit.auth(agent_key))
    assert other.status_code == 403
    assert other.headers["content-type"] == "application/problem+json"


async def test_idempotent_creates(
    kit: Any,
    client: Client,
    core: Loopy,
    admin_key: str,
    agent_key: str,
    harness_id: str,
    track: dict[str, Any],
) -> None:
    """The same request_id twice creates one resource and returns the first result."""
    dispatcher = core.dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)
    submitted_before = len(dispatcher.submitted_ids)
    first = await launch(kit, client, agent_key, track["head_revision"], request_id="retry-me")
    second = await launch(kit, client, agent_key, track["head_revision"], request_id="retry-me")
    assert first["id"] == second["id"]
    assert len(dispatcher.submitted_ids) == submitted_before + 1
    queued = (
        await client.get("/v1/tracks/http-track/runs?state=QUEUED", headers=kit.auth(agent_key))
    ).json()
    assert [r["id"] for r in queued["runs"]] == [first["id"]]

    edit_a = await propose(kit, client, agent_key, LR_EDIT, request_id="edit-once")
    edit_b = await propose(kit, client, agent_key, LR_EDIT, request_id="edit-once")
    assert edit_a["proposal_id"] == edit_b["proposal_id"]

    body = kit.track_body(harness_id, track_id="idem-track", request_id="track-once")
    made = await client.post("/v1/tracks", json=body, headers=kit.auth(admin_key))
    again = await client.post("/v1/tracks", json=body, headers=kit.auth(admin_key))
    assert made.status_code == 201 and again.status_code == 201, again.text
    assert made.json()["create_time"] == again.json()["create_time"]
    calibration = (
        await client.get("/v1/tracks/idem-track/runs", headers=kit.auth(admin_key))
    ).json()
    assert len(calibration["runs"]) == 2  # calibration launched once, not twice


async def test_artifact_redirects_to_presigned_url(
    kit: Any, client: Client, core: Loopy, agent_key: str, track: dict[str, Any]
) -> None:
    """Object stores answer GetArtifact with a 302 to a presigned URL."""
    from tests.support.fakes import MemoryArtifactStore

    presigning = MemoryArtifactStore(presign_base="http://s3.test/")
    core.artifacts = presigning
    run = await launch(kit, client, agent_key, track["head_revision"])
    kit.finish_run(core, run["id"], 1.0)
    response = await client.get(
        f"/v1/runs/{run['id']}/artifacts/log", headers=kit.auth(agent_key), follow_redirects=False
    )
    assert response.status_code == 302
    assert response.headers["location"].startswith("http://s3.test/")


async def test_health_and_prometheus_need_no_key(kit: Any, client: Client, agent_key: str) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {}, "details": {}}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "metadata_store": True,
        "broker": True,
        "artifact_store": True,
    }
    await client.get("/v1/tracks", headers=kit.auth(agent_key))
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'loopy_http_requests_total{operation="ListTracks",status="200"} 1.0' in metrics.text
    assert "loopy_http_request_seconds_bucket" in metrics.text


async def test_readyz_reports_a_dead_store(kit: Any, client: Client, core: Loopy) -> None:
    def broken_ping() -> bool:
        raise ConnectionError("database went away")

    core.meta.ping = broken_ping  # type: ignore[method-assign]
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and int(ready.headers["Retry-After"]) >= 1
    assert ready.json() == {
        "status": "unavailable",
        "checks": {"metadata_store": False, "broker": True, "artifact_store": True},
        "details": {},
    }


async def test_api_keys_are_resolved_once_per_few_seconds(
    kit: Any, client: Client, core: Loopy, agent_key: str
) -> None:
    """Hot read paths skip the key lookup in the store (auth results are cached briefly)."""
    lookups = 0
    real_lookup = core.meta.get_agent_by_key_hash

    def counting_lookup(key_hash: str) -> Any:
        nonlocal lookups
        lookups += 1
        return real_lookup(key_hash)

    core.meta.get_agent_by_key_hash = counting_lookup  # type: ignore[method-assign]
    for _ in range(5):
        response = await client.get("/v1/agents/me", headers=kit.auth(agent_key))
        assert response.status_code == 200
    assert lookups == 1
    bad = await client.get("/v1/agents/me", headers=kit.auth("loopy_not-a-real-key"))
    assert bad.status_code == 401  # failures are never cached as successes
