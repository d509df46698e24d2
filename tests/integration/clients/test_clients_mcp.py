"""The MCP adapter: its tools are the API's operations (snake_case operationIds),
called through a real MCP client session, in process and over stdio (the
`loopy-mcp` entry point), against a real server on loopback."""

from __future__ import annotations

import json
import os
import re
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from loopy_sdk import connect
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.types import TextContent

from clients.mcp import server as mcp_server

pytestmark = pytest.mark.timeout(60)

SPEC = Path(__file__).parents[3] / "clients" / "python" / "openapi.json"

# Every operation of the API is a tool, except these (and why).
NOT_TOOLS = {
    "WatchRun": "a stream: wait_for_run follows it",
    "Healthz": "operations, not the research loop",
    "Readyz": "operations, not the research loop",
    "PrometheusMetrics": "operations, not the research loop",
}
HELPER_TOOLS = {"wait_for_run", "wait_for_evaluation"}


def snake_case(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def error_problem(result: Any) -> tuple[str, dict[str, Any]]:
    """A tool error's text and the problem JSON it ends with."""
    assert result.is_error
    (content,) = result.content
    assert isinstance(content, TextContent)
    return content.text, json.loads(content.text[content.text.index("{") :])


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return result.structured_content  # type: ignore[no-any-return]


@pytest.fixture
def mcp(base_url: str, agent_key: str) -> Any:
    with connect(base_url, agent_key) as sdk:
        yield mcp_server.create_server(sdk)


async def test_tools_are_the_operations_in_snake_case(mcp: Any) -> None:
    spec_operations = {
        operation["operationId"]
        for path in json.loads(SPEC.read_text())["paths"].values()
        for operation in path.values()
    }
    assert set(NOT_TOOLS) <= spec_operations
    async with Client(mcp) as client:
        tools = (await client.list_tools()).tools
    names = {tool.name for tool in tools}
    assert names == {snake_case(op) for op in spec_operations - set(NOT_TOOLS)} | HELPER_TOOLS
    for tool in tools:
        assert len(tool.description or "") > 40, tool.name  # enough for an agent to use cold
    propose = next(t for t in tools if t.name == "propose_edit")
    assert {"track", "description", "unified_diff", "search_replace", "full_source"} <= set(
        propose.input_schema["properties"]
    )


async def test_an_agent_runs_an_experiment_through_the_tools(mcp: Any, track: str) -> None:
    async with Client(mcp) as client:
        program = structured(await client.call_tool("get_program", {"track": track}))
        assert program["metric"] == "val_bpb"

        edit = structured(
            await client.call_tool(
                "propose_edit",
                {
                    "track": track,
                    "description": "higher learning rate",
                    "search_replace": [
                        {"search": "LEARNING_RATE = 3e-4", "replace": "LEARNING_RATE = 1e-3"}
                    ],
                },
            )
        )
        revision = edit["revision"]["id"]
        assert edit["revision"]["parent_id"] == program["head_revision"]

        run = structured(
            await client.call_tool("launch_run", {"track": track, "revision": revision})
        )
        assert run["state"] == "QUEUED"
        waited = structured(
            await client.call_tool("wait_for_run", {"run": run["id"], "timeout_s": 30})
        )
        assert waited["finished"] is True
        assert waited["run"]["state"] == "SUCCEEDED"
        assert waited["run"]["summary"]["val_bpb"] < 0.96

        metrics = structured(
            await client.call_tool("get_metrics", {"run": run["id"], "names": ["loss"]})
        )
        assert {p["name"] for p in metrics["points"]} == {"loss"}
        assert metrics["points"][0]["step"] == 0

        listed = structured(await client.call_tool("list_runs", {"track": track}))
        assert run["id"] in [r["id"] for r in listed["runs"]]


async def test_api_errors_are_tool_errors_with_the_problem(mcp: Any) -> None:
    async with Client(mcp) as client:
        result = await client.call_tool("get_run", {"run": "no-such-run"})
    text, problem = error_problem(result)
    assert "NOT_FOUND" in text and "404" in text
    assert problem["code"] == "NOT_FOUND"
    assert problem["details"] == {"run_id": "no-such-run"}


async def test_rejected_edit_explains_itself(mcp: Any, track: str) -> None:
    async with Client(mcp) as client:
        result = await client.call_tool(
            "propose_edit",
            {"track": track, "description": "broken", "full_source": "def build_model(:\n"},
        )
    text, problem = error_problem(result)
    assert "INVALID_ARGUMENT" in text
    assert problem["status"] == 400 and problem["details"]


async def test_wait_for_run_returns_unfinished_when_its_time_runs_out(
    mcp: Any, track: str, worker: Any
) -> None:
    worker.paused.set()
    async with Client(mcp) as client:
        run = structured(await client.call_tool("launch_run", {"track": track}))
        waited = structured(
            await client.call_tool("wait_for_run", {"run": run["id"], "timeout_s": 0.3})
        )
    assert waited["finished"] is False
    assert waited["run"]["state"] == "QUEUED"


async def test_loopy_mcp_serves_over_stdio(base_url: str, agent_key: str, track: str) -> None:
    script = Path(sysconfig.get_path("scripts")) / "loopy-mcp"
    command, args = (
        (str(script), []) if script.exists() else (sys.executable, ["-m", "clients.mcp.server"])
    )
    env = {**os.environ, "LOOPY_URL": base_url, "LOOPY_API_KEY": agent_key}
    async with Client(StdioServerParameters(command=command, args=args, env=env)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "propose_edit" in names
        got = structured(await client.call_tool("get_track", {"track": track}))
    assert got["id"] == track


def test_loopy_mcp_needs_an_api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LOOPY_API_KEY", raising=False)
    monkeypatch.setenv("LOOPY_DATA_DIR", str(tmp_path))  # no `loopy up` admin key there either
    with pytest.raises(SystemExit) as exited:
        mcp_server.main([])
    assert "LOOPY_API_KEY" in str(exited.value.code)
