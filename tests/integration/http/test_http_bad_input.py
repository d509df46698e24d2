"""Hostile and odd input over HTTP never yields a 500: each case is a 4xx problem
that says what was wrong. Runs on PostgreSQL (where NUL and 64-bit limits bite)
and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from service.domain.service import Loopy
from tests.support.cores import make_core

Client = AsyncTestClient[Any]


@pytest.fixture
def core(sql_store_url: str) -> Iterator[Loopy]:
    core = make_core(sql_store_url)
    yield core
    core.meta.close()


def assert_4xx_problem(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["detail"] and "Traceback" not in response.text
    return problem


async def test_json_nested_a_thousand_deep_is_400(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    deep = "[" * 1000 + "]" * 1000
    for body in (deep, '{"track_id": "http-track", "request_id": ' + deep + "}"):
        response = await client.post(
            "/v1/runs",
            content=body,
            headers={**kit.auth(agent_key), "Content-Type": "application/json"},
        )
        assert_4xx_problem(response)


async def test_nul_in_request_id_is_400_and_stores_nothing(
    client: Client, core: Loopy, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    before, _ = core.meta.list_runs(track_id="http-track", page_size=100)
    response = await client.post(
        "/v1/runs",
        json={"track_id": "http-track", "request_id": "retry\x00-1"},
        headers=kit.auth(agent_key),
    )
    problem = assert_4xx_problem(response)
    assert problem["details"]["field"] == "request_id"
    after, _ = core.meta.list_runs(track_id="http-track", page_size=100)
    assert len(after) == len(before)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/runs/run%00x",
        "/v1/runs/run%00x/metrics",
        "/v1/tracks/http%00track",
        "/v1/tracks/http-track/program%00",
        "/v1/revisions/ab%00cd",
    ],
)
async def test_nul_in_a_path_is_a_4xx(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any], path: str
) -> None:
    response = await client.get(path, headers=kit.auth(agent_key))
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_nul_in_a_body_text_is_never_a_500(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/tracks/http-track/revisions",
        json={
            "search_replace": [
                {"search": "LEARNING_RATE = 3e-4", "replace": "LEARNING_RATE = 1e-3"}
            ],
            "description": "nul \x00 inside",
        },
        headers=kit.auth(agent_key),
    )
    # JSON can carry NUL in a string; the store keeps text as JSON, so it round-trips.
    assert response.status_code < 500, response.text


async def test_since_step_past_64_bits_is_400(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    run = await client.post(
        "/v1/runs", json={"track_id": "http-track"}, headers=kit.auth(agent_key)
    )
    assert run.status_code == 201, run.text
    response = await client.get(
        f"/v1/runs/{run.json()['id']}/metrics?since_step={2**70}", headers=kit.auth(agent_key)
    )
    problem = assert_4xx_problem(response)
    assert problem["details"]["field"] == "since_step"


async def test_concurrent_proposals_never_fail_inside_the_parser(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    async def propose(i: int) -> httpx.Response:
        nested = "(" * 80 + str(i) + ")" * 80
        return await client.post(
            "/v1/tracks/http-track/revisions",
            json={
                "search_replace": [
                    {"search": "LEARNING_RATE = 3e-4", "replace": f"LEARNING_RATE = {nested}"}
                ],
                "description": f"parse race {i}",
            },
            headers=kit.auth(agent_key),
        )

    responses = await asyncio.gather(*(propose(i) for i in range(20)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]


async def test_source_nested_past_the_parser_is_400(
    client: Client, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    source = kit.BASELINE_SOURCE + "\nX = " + "-" * 5_000 + "1\n"
    response = await client.post(
        "/v1/tracks/http-track/revisions",
        json={"full_source": source, "description": "deep"},
        headers=kit.auth(agent_key),
    )
    assert_4xx_problem(response)


async def test_propose_edit_is_idempotent_under_twenty_concurrent_retries(
    client: Client, core: Loopy, kit: Any, agent_key: str, track: dict[str, Any]
) -> None:
    body = {
        "search_replace": [{"search": "LEARNING_RATE = 3e-4", "replace": "LEARNING_RATE = 5e-4"}],
        "description": "one proposal",
        "request_id": "propose-once",
    }

    async def propose() -> httpx.Response:
        return await client.post(
            "/v1/tracks/http-track/revisions", json=body, headers=kit.auth(agent_key)
        )

    responses = await asyncio.gather(*(propose() for _ in range(20)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    answers = {(r.json()["proposal_id"], r.json()["revision"]["id"]) for r in responses}
    assert len(answers) == 1
    proposals, _ = core.meta.list_proposals("http-track", None, 100, "")
    assert [p.request_id for p in proposals].count("propose-once") == 1
