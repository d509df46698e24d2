"""The contract: HTTP and gRPC give the same answers and the same errors.

One scenario (every capability of SPEC §2 and the errors of SPEC §8) is played
through each transport against its own fresh core, a worker played by the test
in between. Each answer is turned back into the domain's own struct (HTTP: the
JSON body; gRPC: the proto through service.grpc.convert) and normalised:
generated ids become `<run#1>`-style tokens in order of first appearance,
time stamps and the service-chosen seeds of replicate runs are masked, API
keys and page tokens are reduced to "present". What is left must be equal,
step by step. Each error must carry the same domain code on both, with the
HTTP status and the gRPC status that the one ERROR_TABLE gives for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import msgspec
import pytest

from service.domain.errors import ERROR_TABLE, ErrorCode, LoopyError
from service.domain.models import (
    Agent,
    AgentQuota,
    CreatedAgent,
    DecisionPolicy,
    EvaluateRequest,
    Evaluation,
    Harness,
    LaunchRunRequest,
    Leaderboard,
    MetricPoint,
    MetricSeries,
    Program,
    PromoteRequest,
    ProposeEditRequest,
    ProposeEditResult,
    RevisionView,
    Run,
    RunLogs,
    RunOutcome,
    RunState,
    RunSummary,
    SearchReplaceBlock,
    Track,
)
from service.domain.service import CreateAgentRequest, CreateTrackRequest, Loopy
from service.grpc import convert
from service.grpc.errors import (
    RETRY_AFTER_METADATA_KEY,
    error_from_rpc,
    status_code,
    trailing_metadata,
)
from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
from service.grpc.gen.loopy.v1 import resources_pb2 as pb
from tests.support import grpc_decode as decode
from tests.support.cores import TINY_TRAIN_SOURCE

BASELINE_SOURCE = TINY_TRAIN_SOURCE


class CallFailed(Exception):
    def __init__(self, code: ErrorCode) -> None:
        super().__init__(code.value)
        self.code = code


Json = Any


# --- HTTP ----------------------------------------------------------------------


class HttpTransport:
    name = "http"

    def __init__(self, client: Any) -> None:
        self.client = client

    async def _call(
        self,
        key: str | None,
        method: str,
        path: str,
        result: type[Any] | None,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Json:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        content = msgspec.json.encode(body) if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.request(
            method, path, headers=headers, content=content, params=params
        )
        if response.status_code >= 400:
            problem = response.json()
            code = ErrorCode(problem["code"])
            assert response.status_code == ERROR_TABLE[code][0], (path, problem)
            if code is ErrorCode.RESOURCE_EXHAUSTED:
                assert float(response.headers["retry-after"]) > 0
            raise CallFailed(code)
        assert response.status_code in (200, 201), (path, response.text)
        if result is None:
            return response.json()
        return msgspec.to_builtins(msgspec.json.decode(response.content, type=result))

    async def create_track(self, key: str, req: CreateTrackRequest) -> Json:

        return await self._call(key, "POST", "/v1/tracks", Track, body=req)

    async def get_track(self, key: str | None, track_id: str) -> Json:

        return await self._call(key, "GET", f"/v1/tracks/{track_id}", Track)

    async def list_tracks(self, key: str, page_size: int | None, page_token: str) -> Json:
        params: dict[str, Any] = {"page_token": page_token} if page_token else {}
        if page_size is not None:
            params["page_size"] = page_size
        return _page(await self._call(key, "GET", "/v1/tracks", None, params=params))

    async def get_program(self, key: str, track_id: str) -> Json:

        return await self._call(key, "GET", f"/v1/tracks/{track_id}/program", Program)

    async def get_harness(self, key: str, harness_id: str) -> Json:

        return await self._call(key, "GET", f"/v1/harnesses/{harness_id}", Harness)

    async def list_harnesses(self, key: str) -> Json:
        return _page(await self._call(key, "GET", "/v1/harnesses", None))

    async def create_agent(self, key: str, req: CreateAgentRequest) -> Json:
        return await self._call(key, "POST", "/v1/agents", CreatedAgent, body=req)

    async def get_agent(self, key: str, agent_id: str) -> Json:

        return await self._call(key, "GET", f"/v1/agents/{agent_id}", Agent)

    async def propose_edit(self, key: str, track_id: str, req: ProposeEditRequest) -> Json:

        path = f"/v1/tracks/{track_id}/revisions"
        return await self._call(key, "POST", path, ProposeEditResult, body=req)

    async def get_revision(self, key: str, revision_id: str) -> Json:

        return await self._call(key, "GET", f"/v1/revisions/{revision_id}", RevisionView)

    async def list_revisions(self, key: str, track_id: str) -> Json:
        return _page(await self._call(key, "GET", f"/v1/tracks/{track_id}/revisions", None))

    async def list_proposals(self, key: str, track_id: str) -> Json:
        return _page(await self._call(key, "GET", f"/v1/tracks/{track_id}/proposals", None))

    async def launch_run(self, key: str, req: LaunchRunRequest) -> Json:

        return await self._call(key, "POST", "/v1/runs", Run, body=req)

    async def get_run(self, key: str, run_id: str) -> Json:

        return await self._call(key, "GET", f"/v1/runs/{run_id}", Run)

    async def list_runs(self, key: str, track_id: str, state: RunState | None) -> Json:
        params = {"state": state.value} if state is not None else None
        path = f"/v1/tracks/{track_id}/runs"
        return _page(await self._call(key, "GET", path, None, params=params))

    async def cancel_run(self, key: str, run_id: str) -> Json:

        return await self._call(key, "POST", f"/v1/runs/{run_id}/cancel", Run)

    async def get_metrics(
        self, key: str, run_id: str, since_step: int | None, names: list[str] | None
    ) -> Json:

        params: dict[str, Any] = {}
        if since_step is not None:
            params["since_step"] = since_step
        if names:
            params["names"] = ",".join(names)
        path = f"/v1/runs/{run_id}/metrics"
        return await self._call(key, "GET", path, MetricSeries, params=params)

    async def get_run_logs(self, key: str, run_id: str) -> Json:

        return await self._call(key, "GET", f"/v1/runs/{run_id}/logs", RunLogs)

    async def watch_run(self, key: str, run_id: str, after_seq: int) -> Json:
        """The SSE stream of a finished run: the whole history, then the end."""
        response = await self.client.get(
            f"/v1/runs/{run_id}/events",
            params={"after_seq": after_seq},
            headers={"Authorization": f"Bearer {key}"},
        )
        if response.status_code >= 400:
            raise CallFailed(ErrorCode(response.json()["code"]))
        events = []
        text = response.text.replace("\r\n", "\n").replace("\r", "\n")
        for block in text.split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line.startswith(":") or ":" not in line:
                    continue  # comments (keep-alives) and blank lines
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                # Per the SSE spec several data lines join with newlines.
                fields[name] = f"{fields[name]}\n{value}" if name in fields else value
            if "data" in fields:
                events.append(
                    {
                        "seq": int(fields["id"]),
                        "type": fields["event"],
                        "data": json.loads(fields["data"]),
                    }
                )
        return events

    async def evaluate(self, key: str, run_id: str, req: EvaluateRequest) -> Json:

        path = f"/v1/runs/{run_id}/evaluations"
        return await self._call(key, "POST", path, Evaluation, body=req)

    async def get_evaluation(self, key: str, run_id: str, evaluation_id: str) -> Json:

        path = f"/v1/runs/{run_id}/evaluations/{evaluation_id}"
        return await self._call(key, "GET", path, Evaluation)

    async def promote_run(self, key: str, track_id: str, req: PromoteRequest) -> Json:

        return await self._call(key, "POST", f"/v1/tracks/{track_id}/promote", Track, body=req)

    async def get_leaderboard(self, key: str, track_id: str) -> Json:

        path = f"/v1/tracks/{track_id}/leaderboard"
        return await self._call(key, "GET", path, Leaderboard)

    async def list_head_changes(self, key: str, track_id: str) -> Json:

        path = f"/v1/tracks/{track_id}/head-changes"
        return _page(await self._call(key, "GET", path, None))


def _page(body: dict[str, Any]) -> Json:
    """A list answer: its one list of resources (`tracks`, `runs`, ...) and whether
    there is a next page (tokens are opaque, so only their presence is compared)."""
    (items,) = [v for k, v in body.items() if k != "next_page_token"]
    return {"items": items, "more": bool(body["next_page_token"])}


# --- gRPC ----------------------------------------------------------------------


class GrpcTransport:
    name = "grpc"

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.stub = rpc.LoopyServiceStub(channel)

    async def _call(self, method: Callable[..., Any], request: Any, key: str | None) -> Any:
        metadata = (("authorization", f"Bearer {key}"),) if key is not None else ()
        try:
            return await method(request, metadata=metadata)
        except grpc.aio.AioRpcError as failed:
            error = error_from_rpc(failed)
            assert failed.code().name == ERROR_TABLE[error.code][1], (failed, error.detail)
            if error.code is ErrorCode.RESOURCE_EXHAUSTED:
                trailers = dict(failed.trailing_metadata() or ())
                assert float(trailers[RETRY_AFTER_METADATA_KEY]) > 0
            raise CallFailed(error.code) from None

    async def create_track(self, key: str, req: CreateTrackRequest) -> Json:
        request = api.CreateTrackRequest(
            track_id=req.track_id,
            harness_id=req.harness_id,
            display_name=req.display_name,
            description=req.description,
            program=req.program,
            baseline_source=req.baseline_source,
            device_class=req.device_class,
            time_budget_s=req.time_budget_s,
            policy=convert.policy_to_proto(req.policy),
            allowed_imports=req.allowed_imports or [],
            request_id=req.request_id or "",
        )
        answer = await self._call(self.stub.CreateTrack, request, key)
        return msgspec.to_builtins(decode.track_from_proto(answer.track))

    async def get_track(self, key: str | None, track_id: str) -> Json:
        answer = await self._call(self.stub.GetTrack, api.GetTrackRequest(track_id=track_id), key)
        return msgspec.to_builtins(decode.track_from_proto(answer.track))

    async def list_tracks(self, key: str, page_size: int | None, page_token: str) -> Json:
        request = api.ListTracksRequest(page_size=page_size or 0, page_token=page_token)
        answer = await self._call(self.stub.ListTracks, request, key)
        items = [decode.track_from_proto(t) for t in answer.tracks]
        return {"items": msgspec.to_builtins(items), "more": bool(answer.next_page_token)}

    async def get_program(self, key: str, track_id: str) -> Json:
        request = api.GetProgramRequest(track_id=track_id)
        answer = await self._call(self.stub.GetProgram, request, key)
        return msgspec.to_builtins(decode.program_from_proto(answer.program))

    async def get_harness(self, key: str, harness_id: str) -> Json:
        request = api.GetHarnessRequest(harness_id=harness_id)
        answer = await self._call(self.stub.GetHarness, request, key)
        return msgspec.to_builtins(decode.harness_from_proto(answer.harness))

    async def list_harnesses(self, key: str) -> Json:
        answer = await self._call(self.stub.ListHarnesses, api.ListHarnessesRequest(), key)
        items = [decode.harness_from_proto(h) for h in answer.harnesses]
        return {"items": msgspec.to_builtins(items), "more": bool(answer.next_page_token)}

    async def create_agent(self, key: str, req: CreateAgentRequest) -> Json:
        request = api.CreateAgentRequest(
            display_name=req.name,
            role=convert.enum_to_proto(req.role, type(req.role)),
            quota=convert.quota_to_proto(req.quota) if req.quota is not None else None,
        )
        answer = await self._call(self.stub.CreateAgent, request, key)
        created = CreatedAgent(agent=decode.agent_from_proto(answer.agent), api_key=answer.api_key)
        return msgspec.to_builtins(created)

    async def get_agent(self, key: str, agent_id: str) -> Json:
        answer = await self._call(self.stub.GetAgent, api.GetAgentRequest(agent_id=agent_id), key)
        return msgspec.to_builtins(decode.agent_from_proto(answer.agent))

    async def propose_edit(self, key: str, track_id: str, req: ProposeEditRequest) -> Json:
        request = api.ProposeEditRequest(
            track_id=track_id,
            description=req.description,
            base_revision=req.base_revision,
            request_id=req.request_id or "",
        )
        if req.unified_diff is not None:
            request.unified_diff = req.unified_diff
        if req.full_source is not None:
            request.full_source = req.full_source
        if req.search_replace is not None:
            request.search_replace.blocks.extend(
                pb.SearchReplaceBlock(search=b.search, replace=b.replace)
                for b in req.search_replace
            )
        answer = await self._call(self.stub.ProposeEdit, request, key)
        return msgspec.to_builtins(decode.propose_edit_result_from_proto(answer))

    async def get_revision(self, key: str, revision_id: str) -> Json:
        request = api.GetRevisionRequest(revision_id=revision_id)
        answer = await self._call(self.stub.GetRevision, request, key)
        return msgspec.to_builtins(decode.revision_view_from_proto(answer))

    async def list_revisions(self, key: str, track_id: str) -> Json:
        request = api.ListRevisionsRequest(track_id=track_id)
        answer = await self._call(self.stub.ListRevisions, request, key)
        items = [decode.revision_from_proto(r) for r in answer.revisions]
        return {"items": msgspec.to_builtins(items), "more": bool(answer.next_page_token)}

    async def list_proposals(self, key: str, track_id: str) -> Json:
        request = api.ListProposalsRequest(track_id=track_id)
        answer = await self._call(self.stub.ListProposals, request, key)
        items = [decode.proposal_from_proto(p) for p in answer.proposals]
        return {"items": msgspec.to_builtins(items), "more": bool(answer.next_page_token)}

    async def launch_run(self, key: str, req: LaunchRunRequest) -> Json:
        request = api.LaunchRunRequest(
            track_id=req.track_id,
            revision_id=req.revision_id,
            seed=req.seed,
            request_id=req.request_id or "",
        )
        answer = await self._call(self.stub.LaunchRun, request, key)
        return msgspec.to_builtins(decode.run_from_proto(answer.run))

    async def get_run(self, key: str, run_id: str) -> Json:
        answer = await self._call(self.stub.GetRun, api.GetRunRequest(run_id=run_id), key)
        return msgspec.to_builtins(decode.run_from_proto(answer.run))

    async def list_runs(self, key: str, track_id: str, state: RunState | None) -> Json:
        request = api.ListRunsRequest(
            track_id=track_id, state=convert.enum_to_proto(state, RunState)
        )
        answer = await self._call(self.stub.ListRuns, request, key)
        items = [decode.run_from_proto(r) for r in answer.runs]
        return {"items": msgspec.to_builtins(items), "more": bool(answer.next_page_token)}

    async def cancel_run(self, key: str, run_id: str) -> Json:
        answer = await self._call(self.stub.CancelRun, api.CancelRunRequest(run_id=run_id), key)
        return msgspec.to_builtins(decode.run_from_proto(answer.run))

    async def get_metrics(
        self, key: str, run_id: str, since_step: int | None, names: list[str] | None
    ) -> Json:
        request = api.GetMetricsRequest(run_id=run_id, since_step=since_step, names=names or [])
        answer = await self._call(self.stub.GetMetrics, request, key)
        return msgspec.to_builtins(decode.metric_series_from_proto(answer))

    async def get_run_logs(self, key: str, run_id: str) -> Json:
        answer = await self._call(self.stub.GetRunLogs, api.GetRunLogsRequest(run_id=run_id), key)
        return msgspec.to_builtins(decode.run_logs_from_proto(answer))

    async def watch_run(self, key: str, run_id: str, after_seq: int) -> Json:
        call = self.stub.WatchRun(
            api.WatchRunRequest(run_id=run_id, after_seq=after_seq),
            metadata=(("authorization", f"Bearer {key}"),),
        )
        try:
            events = [decode.run_event_from_proto(answer.event) async for answer in call]
        except grpc.aio.AioRpcError as failed:
            raise CallFailed(error_from_rpc(failed).code) from None
        return [{"seq": e.seq, "type": e.type.value, "data": e.data} for e in events]

    async def evaluate(self, key: str, run_id: str, req: EvaluateRequest) -> Json:
        request = api.EvaluateRequest(
            run_id=run_id,
            reference_run_id=req.reference_run_id,
            replicates=req.replicates,
            request_id=req.request_id or "",
        )
        answer = await self._call(self.stub.Evaluate, request, key)
        return msgspec.to_builtins(decode.evaluation_from_proto(answer.evaluation))

    async def get_evaluation(self, key: str, run_id: str, evaluation_id: str) -> Json:
        request = api.GetEvaluationRequest(run_id=run_id, evaluation_id=evaluation_id)
        answer = await self._call(self.stub.GetEvaluation, request, key)
        return msgspec.to_builtins(decode.evaluation_from_proto(answer.evaluation))

    async def promote_run(self, key: str, track_id: str, req: PromoteRequest) -> Json:
        request = api.PromoteRunRequest(
            track_id=track_id,
            run_id=req.run_id,
            expected_head_revision=req.expected_head_revision,
            evaluation_id=req.evaluation_id,
            force=req.force,
            reason=req.reason,
        )
        answer = await self._call(self.stub.PromoteRun, request, key)
        return msgspec.to_builtins(decode.track_from_proto(answer.track))

    async def get_leaderboard(self, key: str, track_id: str) -> Json:
        request = api.GetLeaderboardRequest(track_id=track_id)
        answer = await self._call(self.stub.GetLeaderboard, request, key)
        return msgspec.to_builtins(decode.leaderboard_from_proto(answer))

    async def list_head_changes(self, key: str, track_id: str) -> Json:
        request = api.ListHeadChangesRequest(track_id=track_id)
        answer = await self._call(self.stub.ListHeadChanges, request, key)
        return _page(
            {
                "head_changes": [
                    msgspec.to_builtins(decode.head_change_from_proto(h))
                    for h in answer.head_changes
                ],
                "next_page_token": answer.next_page_token,
            }
        )


# --- The scenario ----------------------------------------------------------------


def play_worker(core: Loopy, value_of: dict[str, float], default: float) -> list[str]:
    """Run every dispatched run that is still queued, in dispatch order."""
    done = []
    for run in list(core.dispatcher.submitted):  # type: ignore[attr-defined]
        current = core.meta.get_run(run.id)
        if current is None or current.state is not RunState.QUEUED:
            continue
        assert core.claim_run(run.id, "worker-1") is not None
        core.record_metrics(
            run.id,
            [
                MetricPoint(step=s, name=n, value=5.0 - s, wall_seconds=0.5 * s)
                for s in range(4)
                for n in ("loss", "lr")
            ],
        )
        core.record_log(run.id, f"training {run.purpose.value.lower()} run\n")
        value = value_of.get(run.revision_id, default)
        outcome = RunOutcome(
            state=RunState.SUCCEEDED,
            summary=RunSummary(val_bpb=value, training_seconds=2.0, num_steps=4),
        )
        core.complete_run(run.id, "worker-1", outcome)
        done.append(run.id)
    return done


async def scenario(t: Any, core: Loopy) -> list[tuple[str, Json]]:
    steps: list[tuple[str, Json]] = []

    async def step(name: str, call: Awaitable[Json]) -> Json:
        try:
            result = await call
        except CallFailed as failed:
            result = {"error": failed.code.value}
        steps.append((name, result))
        return result

    admin = core.bootstrap_admin("admin").api_key
    create = CreateTrackRequest(
        track_id="cpu-test",
        harness_id="harness0001",
        display_name="CPU test",
        baseline_source=BASELINE_SOURCE,
        time_budget_s=5.0,
        policy=DecisionPolicy(calibration_runs=2, replicates=2),
        request_id="create-1",
    )
    track = await step("CreateTrack", t.create_track(admin, create))
    await step("CreateTrack again (same request_id)", t.create_track(admin, create))
    second = msgspec.structs.replace(create, track_id="cpu-other", request_id=None)
    await step("CreateTrack second", t.create_track(admin, second))
    await step("CreateTrack taken id", t.create_track(admin, second))
    bad_id = msgspec.structs.replace(create, track_id="Not An Id!", request_id=None)
    await step("CreateTrack bad id", t.create_track(admin, bad_id))
    await step("GetTrack", t.get_track(admin, "cpu-test"))
    await step("GetTrack unknown", t.get_track(admin, "no-such-track"))
    await step("GetTrack no key", t.get_track(None, "cpu-test"))
    await step("GetTrack bad key", t.get_track("loopy_wrong", "cpu-test"))
    await step("ListTracks page 1", t.list_tracks(admin, 1, ""))
    await step("ListTracks all", t.list_tracks(admin, None, ""))
    await step("ListTracks forged token", t.list_tracks(admin, None, "forged"))
    await step("GetProgram", t.get_program(admin, "cpu-test"))
    await step("GetHarness", t.get_harness(admin, "harness0001"))
    await step("GetHarness unknown", t.get_harness(admin, "ffffffffffffffff"))
    await step("ListHarnesses", t.list_harnesses(admin))

    created = await step(
        "CreateAgent",
        t.create_agent(
            admin, CreateAgentRequest(name="explorer", quota=AgentQuota(max_queued_runs=2))
        ),
    )
    agent = created["api_key"]
    await step("GetAgent me", t.get_agent(agent, "me"))
    await step("GetAgent admin as agent", t.get_agent(agent, track["creator_agent_id"]))
    await step("CreateTrack as agent", t.create_track(agent, second))
    await step("CreateAgent as agent", t.create_agent(agent, CreateAgentRequest(name="sneaky")))

    play_worker(core, {}, 1.50)  # the calibration runs

    edit = ProposeEditRequest(
        description="double the learning rate",
        search_replace=[
            SearchReplaceBlock(
                search="LEARNING_RATE = 3e-4  # AdamW", replace="LEARNING_RATE = 6e-4  # AdamW"
            )
        ],
        request_id="edit-1",
    )
    proposed = await step("ProposeEdit", t.propose_edit(agent, "cpu-test", edit))
    await step("ProposeEdit again (same request_id)", t.propose_edit(agent, "cpu-test", edit))
    candidate = proposed["revision"]["id"]
    same_source = ProposeEditRequest(full_source=proposed["revision"]["source"])
    await step("ProposeEdit existing source", t.propose_edit(agent, "cpu-test", same_source))
    no_match = ProposeEditRequest(
        search_replace=[SearchReplaceBlock(search="NO SUCH LINE", replace="x")]
    )
    await step("ProposeEdit block misses", t.propose_edit(agent, "cpu-test", no_match))
    broken = ProposeEditRequest(full_source="def broken(:\n")
    await step("ProposeEdit syntax error", t.propose_edit(agent, "cpu-test", broken))
    nothing = ProposeEditRequest(description="no edit at all")
    await step("ProposeEdit without an edit", t.propose_edit(agent, "cpu-test", nothing))
    oversize = ProposeEditRequest(full_source=BASELINE_SOURCE + "#" * (80 * 1024) + "\n")
    await step("ProposeEdit oversize", t.propose_edit(agent, "cpu-test", oversize))
    await step("GetRevision", t.get_revision(agent, candidate))
    await step("GetRevision baseline", t.get_revision(agent, track["baseline_revision"]))
    await step("GetRevision unknown", t.get_revision(agent, "ab" * 32))
    await step("ListRevisions", t.list_revisions(agent, "cpu-test"))
    await step("ListProposals", t.list_proposals(agent, "cpu-test"))

    launch = LaunchRunRequest(
        track_id="cpu-test", revision_id=candidate, seed=7, request_id="launch-1"
    )
    run = await step("LaunchRun", t.launch_run(agent, launch))
    await step("LaunchRun again (same request_id)", t.launch_run(agent, launch))
    spare = await step(
        "LaunchRun second", t.launch_run(agent, LaunchRunRequest(track_id="cpu-test", seed=8))
    )
    await step(
        "LaunchRun over quota",
        t.launch_run(agent, LaunchRunRequest(track_id="cpu-test", seed=9)),
    )
    await step("LaunchRun unknown track", t.launch_run(agent, LaunchRunRequest(track_id="nope")))
    await step("CancelRun queued", t.cancel_run(agent, spare["id"]))
    await step("GetRun queued", t.get_run(agent, run["id"]))
    await step("GetRun unknown", t.get_run(agent, "run_nope"))

    play_worker(core, {candidate: 1.20}, 1.50)

    await step("GetRun finished", t.get_run(agent, run["id"]))
    await step("CancelRun finished", t.cancel_run(agent, run["id"]))
    await step("GetMetrics", t.get_metrics(agent, run["id"], None, None))
    await step("GetMetrics since 2, loss", t.get_metrics(agent, run["id"], 2, ["loss"]))
    await step("GetRunLogs", t.get_run_logs(agent, run["id"]))
    await step("WatchRun", t.watch_run(agent, run["id"], 0))
    await step("WatchRun resumed", t.watch_run(agent, run["id"], 2))
    await step("ListRuns", t.list_runs(agent, "cpu-test", None))
    await step("ListRuns succeeded", t.list_runs(agent, "cpu-test", RunState.SUCCEEDED))

    # A rival edit from the same base, trained too: it will lose the race to the head.
    rival_edit = ProposeEditRequest(full_source=BASELINE_SOURCE.replace("3e-4", "1e-3"))
    rival = await step("ProposeEdit rival", t.propose_edit(agent, "cpu-test", rival_edit))
    rival_run = await step(
        "LaunchRun rival",
        t.launch_run(
            agent,
            LaunchRunRequest(track_id="cpu-test", revision_id=rival["revision"]["id"], seed=3),
        ),
    )
    base = track["baseline_revision"]
    unproven = PromoteRequest(run_id=run["id"], expected_head_revision=base)
    await step("PromoteRun without a KEEP", t.promote_run(agent, "cpu-test", unproven))
    self_forced = PromoteRequest(run_id=run["id"], force=True, reason="I am sure")
    await step("PromoteRun forced by an agent", t.promote_run(agent, "cpu-test", self_forced))
    evaluation = await step("Evaluate", t.evaluate(agent, run["id"], EvaluateRequest(replicates=2)))
    await step("GetEvaluation pending", t.get_evaluation(agent, run["id"], evaluation["id"]))
    # The workers train the pairs round by round until the evaluation decides.
    while play_worker(core, {candidate: 1.21, rival["revision"]["id"]: 1.3}, 1.51):
        pass
    judged = await step("GetEvaluation", t.get_evaluation(agent, run["id"], evaluation["id"]))
    assert judged["verdict"] == "KEEP" and judged["pairs_used"] > 1, judged
    await step("GetEvaluation unknown", t.get_evaluation(agent, run["id"], "eval_nope"))

    promote = PromoteRequest(run_id=run["id"], expected_head_revision=base)
    promoted = await step("PromoteRun", t.promote_run(agent, "cpu-test", promote))
    assert promoted["head_revision"] == candidate
    await step("PromoteRun again (idempotent)", t.promote_run(agent, "cpu-test", promote))
    stale = PromoteRequest(
        run_id=rival_run["id"], expected_head_revision=base, force=True, reason="race"
    )
    await step("PromoteRun stale (forced)", t.promote_run(admin, "cpu-test", stale))
    await step("ListHeadChanges", t.list_head_changes(agent, "cpu-test"))
    await step("GetLeaderboard", t.get_leaderboard(agent, "cpu-test"))
    await step("GetTrack after promotion", t.get_track(agent, "cpu-test"))
    await step("GetProgram after promotion", t.get_program(agent, "cpu-test"))
    return steps


# --- Normalisation ---------------------------------------------------------------

_GENERATED_ID = re.compile(r"\b(agent|run|eval|prop|head)_[0-9a-z]{26}\b")


class Normaliser:
    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def _id(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in self.ids:
            prefix = match.group(1)
            count = sum(1 for v in self.ids.values() if v.startswith(f"<{prefix}#"))
            self.ids[found] = f"<{prefix}#{count + 1}>"
        return self.ids[found]

    def __call__(self, value: Json, key: str = "") -> Json:
        if isinstance(value, dict):
            masked = dict(value)
            if masked.get("purpose") == "REPLICATE" or "reference_run_id" in masked:
                masked["seed"] = "<service-chosen>"  # replicates' and evaluation pairs' seeds
            return {k: self(v, k) for k, v in masked.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if key.endswith("_time") and value is not None:
            return "<time>"
        if key == "time" and value is not None:
            return "<time>"
        if key == "api_key":
            return "<key>" if value else value
        if key == "queue_wait_seconds":  # wall-clock between two real instants
            return "<seconds>"
        if isinstance(value, str):
            return _GENERATED_ID.sub(self._id, value)
        return value


async def test_http_and_grpc_agree(
    http_client: Any, http_core: Loopy, grpc_channel: grpc.aio.Channel, grpc_core: Loopy
) -> None:
    http_steps = await scenario(HttpTransport(http_client), http_core)
    grpc_steps = await scenario(GrpcTransport(grpc_channel), grpc_core)

    assert [name for name, _ in http_steps] == [name for name, _ in grpc_steps]
    http_norm, grpc_norm = Normaliser(), Normaliser()
    for (name, over_http), (_, over_grpc) in zip(http_steps, grpc_steps, strict=True):
        assert http_norm(over_http) == grpc_norm(over_grpc), name

    # The scenario is not vacuous: it reached each error of SPEC §8 and real answers.
    errors = {name: result["error"] for name, result in grpc_steps if "error" in result}
    assert set(errors.values()) == {
        "ALREADY_EXISTS",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "PAYLOAD_TOO_LARGE",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "CONFLICT",
    }
    results = dict(grpc_steps)
    assert results["GetEvaluation"]["verdict"] == "KEEP"
    assert (
        results["GetTrack after promotion"]["head_revision"]
        == results["ProposeEdit"]["revision"]["id"]
    )
    assert results["LaunchRun again (same request_id)"]["id"] == results["LaunchRun"]["id"]
    assert [e["type"] for e in results["WatchRun"]][-1] == "state"


class _FailedCall(grpc.RpcError):
    """What a gRPC client holds after a call that ended with `error`."""

    def __init__(self, error: LoopyError) -> None:
        self.error = error

    def code(self) -> grpc.StatusCode:
        return status_code(self.error)

    def details(self) -> str:
        return self.error.message

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return trailing_metadata(self.error)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_one_table_maps_every_code_to_a_grpc_status(code: ErrorCode) -> None:
    http_status, grpc_name, _ = ERROR_TABLE[code]
    error = LoopyError("refused")
    error.code = code
    # A real gRPC status that says the call failed, and an HTTP error status.
    assert grpc_name in grpc.StatusCode.__members__, grpc_name
    assert status_code(error) is grpc.StatusCode[grpc_name] is not grpc.StatusCode.OK
    assert error.http_status == http_status and 400 <= http_status <= 599
    # Codes that share a gRPC status (PAYLOAD_TOO_LARGE, INVALID_ARGUMENT) still
    # reach the client as themselves, as they do over HTTP.
    assert error_from_rpc(_FailedCall(error)).code is code
