"""The MCP tools through the official `mcp` client against a real `loopy up`, over
stdio (`loopy-mcp`) and over streamable HTTP (`loopy-mcp --http PORT`): the whole
loop an agent makes, program -> propose -> launch -> wait -> metrics -> evaluate ->
wait_for_evaluation, and the bearer key the HTTP transport requires."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def up(up_factory, wait_for_calibration):  # type: ignore[no-untyped-def]
    started = up_factory()
    wait_for_calibration(started)
    return started


def structured(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


async def research_loop(client: Client, description: str, new_value: str) -> dict[str, Any]:
    """What an agent does, tool by tool; returns what it saw at the end."""
    program = structured(await client.call_tool("get_program", {"track": "baseline"}))
    head = structured(
        await client.call_tool("get_revision", {"revision": program["head_revision"]})
    )
    assert "def train(ctx)" in head["source"]  # the source at the top level
    assert head["id"] == program["head_revision"] and "run_ids" in head

    edit = structured(
        await client.call_tool(
            "propose_edit",
            {
                "track": "baseline",
                "description": description,
                "search_replace": [
                    {"search": "WARMDOWN_RATIO = 0.5", "replace": f"WARMDOWN_RATIO = {new_value}"}
                ],
            },
        )
    )
    revision = edit["revision"]["id"]
    proposals = structured(await client.call_tool("list_proposals", {"track": "baseline"}))
    assert edit["proposal_id"] in {p["id"] for p in proposals["proposals"]}

    run = structured(
        await client.call_tool("launch_run", {"track": "baseline", "revision": revision})
    )
    assert run["revision_id"] == revision  # the edit proposed, not the head
    waited = {"finished": False}
    for _ in range(20):
        waited = structured(await client.call_tool("wait_for_run", {"run": run["id"]}))
        if waited["finished"]:
            break
    assert waited["finished"] and waited["run"]["state"] == "SUCCEEDED", waited

    metrics = structured(
        await client.call_tool("get_metrics", {"run": run["id"], "names": ["loss"]})
    )
    assert metrics["points"] and {p["name"] for p in metrics["points"]} == {"loss"}

    started = structured(await client.call_tool("evaluate", {"run": run["id"], "replicates": 2}))
    answer = {"finished": False}
    for _ in range(30):
        answer = structured(
            await client.call_tool(
                "wait_for_evaluation", {"run": run["id"], "evaluation": started["id"]}
            )
        )
        if answer["finished"]:
            break
    assert answer["finished"], answer
    evaluation = answer["evaluation"]
    assert evaluation["state"] != "PENDING" and evaluation["verdict"], evaluation
    return {"run": waited["run"], "evaluation": evaluation}


async def test_the_loop_over_stdio(up, e2e) -> None:  # type: ignore[no-untyped-def]
    env = e2e.cli_env(up.data_dir)  # no LOOPY_URL or key: found in the data dir of `loopy up`
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "clients.mcp.server"], env=env
    )
    async with Client(params) as client:
        seen = await research_loop(client, "warm-down 0.45 (stdio)", "0.45")
    assert seen["run"]["summary"]["val_bpb"] > 0


@pytest.fixture(scope="module")
def mcp_http(up, e2e) -> Iterator[tuple[str, subprocess.Popen[str]]]:  # type: ignore[no-untyped-def]
    port = e2e.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "clients.mcp.server", "--http", str(port)],
        env=e2e.cli_env(up.data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.post(url, json={}, timeout=2)
            break
        except httpx.TransportError:
            assert server.poll() is None and time.monotonic() < deadline, (
                "loopy-mcp --http did not start"
            )
            time.sleep(0.2)
    yield url, server
    server.terminate()
    server.wait(timeout=20)


def test_http_transport_requires_a_loopy_key(mcp_http) -> None:  # type: ignore[no-untyped-def]
    url, _ = mcp_http
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=hello, headers=headers).status_code == 401
    wrong = {**headers, "Authorization": "Bearer loopy_not-a-key"}
    assert httpx.post(url, json=hello, headers=wrong).status_code == 401


async def test_the_loop_over_streamable_http(up, mcp_http) -> None:  # type: ignore[no-untyped-def]
    url, server = mcp_http
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {up.key}"}, timeout=120)
    async with Client(streamable_http_client(url, http_client=http)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"list_proposals", "wait_for_evaluation", "wait_for_run"} <= names
        seen = await research_loop(client, "warm-down 0.4 (http)", "0.4")
        chart = await client.call_tool("get_progress_chart", {"track": "baseline"})
        assert not chart.is_error and chart.content[0].type == "image"
    assert seen["evaluation"]["run_id"] == seen["run"]["id"]
    # Quiet by default: the server printed its one start-up line and nothing per request.
    server.terminate()
    out, _ = server.communicate(timeout=20)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("loopy-mcp: streamable HTTP"), out
