"""The LoopyService servicer: every method converts, calls the use-case, converts.

Use-cases are synchronous (SQL stores), so they run in a worker thread;
`watch_run` is the domain's one async generator and is streamed as is.
Errors and authentication are handled by the interceptors (interceptors.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc

from service.domain.models import RunState
from service.domain.service import Loopy
from service.grpc import convert as c
from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
from service.grpc.interceptors import principal

Context: TypeAlias = grpc.aio.ServicerContext


def _track(value: str) -> str:
    return c.strip_collection(value, "tracks")


def _run(value: str) -> str:
    return c.strip_collection(value, "runs")


def _page_size(value: int) -> int | None:
    return value or None  # 0 = the service default; negatives are the domain's to refuse


class LoopyServicer(rpc.LoopyServiceServicer):
    def __init__(self, core: Loopy) -> None:
        self.core = core

    # --- program and tracks -------------------------------------------------
    async def GetProgram(
        self, request: api.GetProgramRequest, context: Context
    ) -> api.GetProgramResponse:
        program = await asyncio.to_thread(
            self.core.get_program, principal(), _track(request.track_id)
        )
        return api.GetProgramResponse(program=c.program_to_proto(program))

    async def CreateTrack(
        self, request: api.CreateTrackRequest, context: Context
    ) -> api.CreateTrackResponse:
        track = await asyncio.to_thread(
            self.core.create_track, principal(), c.create_track_request(request)
        )
        return api.CreateTrackResponse(track=c.track_to_proto(track))

    async def GetTrack(
        self, request: api.GetTrackRequest, context: Context
    ) -> api.GetTrackResponse:
        track = await asyncio.to_thread(self.core.get_track, principal(), _track(request.track_id))
        return api.GetTrackResponse(track=c.track_to_proto(track))

    async def ListTracks(
        self, request: api.ListTracksRequest, context: Context
    ) -> api.ListTracksResponse:
        page = await asyncio.to_thread(
            self.core.list_tracks, principal(), _page_size(request.page_size), request.page_token
        )
        return api.ListTracksResponse(
            tracks=[c.track_to_proto(t) for t in page.items], next_page_token=page.next_page_token
        )

    # --- revisions ----------------------------------------------------------
    async def ProposeEdit(
        self, request: api.ProposeEditRequest, context: Context
    ) -> api.ProposeEditResponse:
        result = await asyncio.to_thread(
            self.core.propose_edit,
            principal(),
            _track(request.track_id),
            c.propose_edit_request(request),
        )
        return c.propose_edit_result_to_proto(result)

    async def GetRevision(
        self, request: api.GetRevisionRequest, context: Context
    ) -> api.GetRevisionResponse:
        view = await asyncio.to_thread(
            self.core.get_revision,
            principal(),
            c.strip_collection(request.revision_id, "revisions"),
        )
        return c.revision_view_to_proto(view)

    async def ListRevisions(
        self, request: api.ListRevisionsRequest, context: Context
    ) -> api.ListRevisionsResponse:
        page = await asyncio.to_thread(
            self.core.list_revisions,
            principal(),
            _track(request.track_id),
            c.optional(request, "author_agent_id"),
            _page_size(request.page_size),
            request.page_token,
        )
        return api.ListRevisionsResponse(
            revisions=[c.revision_to_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
        )

    async def ListProposals(
        self, request: api.ListProposalsRequest, context: Context
    ) -> api.ListProposalsResponse:
        page = await asyncio.to_thread(
            self.core.list_proposals,
            principal(),
            _track(request.track_id),
            c.optional(request, "author_agent_id"),
            _page_size(request.page_size),
            request.page_token,
        )
        return api.ListProposalsResponse(
            proposals=[c.proposal_to_proto(p) for p in page.items],
            next_page_token=page.next_page_token,
        )

    # --- runs ---------------------------------------------------------------
    async def LaunchRun(
        self, request: api.LaunchRunRequest, context: Context
    ) -> api.LaunchRunResponse:
        run = await asyncio.to_thread(
            self.core.launch_run, principal(), c.launch_run_request(request)
        )
        return api.LaunchRunResponse(run=c.run_to_proto(run))

    async def GetRun(self, request: api.GetRunRequest, context: Context) -> api.GetRunResponse:
        run = await asyncio.to_thread(self.core.get_run, principal(), _run(request.run_id))
        return api.GetRunResponse(run=c.run_to_proto(run))

    async def ListRuns(
        self, request: api.ListRunsRequest, context: Context
    ) -> api.ListRunsResponse:
        page = await asyncio.to_thread(
            self.core.list_runs,
            principal(),
            _track(request.track_id),
            c.enum_from_proto(request.state, RunState, "state"),
            _page_size(request.page_size),
            request.page_token,
        )
        return api.ListRunsResponse(
            runs=[c.run_to_proto(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def CancelRun(
        self, request: api.CancelRunRequest, context: Context
    ) -> api.CancelRunResponse:
        run = await asyncio.to_thread(self.core.cancel_run, principal(), _run(request.run_id))
        return api.CancelRunResponse(run=c.run_to_proto(run))

    async def WatchRun(
        self, request: api.WatchRunRequest, context: Context
    ) -> AsyncIterator[api.WatchRunResponse]:
        events = self.core.watch_run(principal(), _run(request.run_id), request.after_seq)
        async for event in events:
            yield api.WatchRunResponse(event=c.run_event_to_proto(event))

    async def GetMetrics(
        self, request: api.GetMetricsRequest, context: Context
    ) -> api.GetMetricsResponse:
        series = await asyncio.to_thread(
            self.core.get_metrics,
            principal(),
            _run(request.run_id),
            c.optional(request, "since_step"),
            list(request.names) or None,
            c.optional(request, "limit"),
        )
        return c.metric_series_to_proto(series)

    async def GetRunLogs(
        self, request: api.GetRunLogsRequest, context: Context
    ) -> api.GetRunLogsResponse:
        logs = await asyncio.to_thread(
            self.core.get_run_logs,
            principal(),
            _run(request.run_id),
            c.optional(request, "tail_bytes"),
        )
        return c.run_logs_to_proto(logs)

    # --- evaluation and decisions -------------------------------------------
    async def Evaluate(
        self, request: api.EvaluateRequest, context: Context
    ) -> api.EvaluateResponse:
        evaluation = await asyncio.to_thread(
            self.core.evaluate, principal(), _run(request.run_id), c.evaluate_request(request)
        )
        return api.EvaluateResponse(evaluation=c.evaluation_to_proto(evaluation))

    async def GetEvaluation(
        self, request: api.GetEvaluationRequest, context: Context
    ) -> api.GetEvaluationResponse:
        evaluation = await asyncio.to_thread(
            self.core.get_evaluation, principal(), _run(request.run_id), request.evaluation_id
        )
        return api.GetEvaluationResponse(evaluation=c.evaluation_to_proto(evaluation))

    async def PromoteRun(
        self, request: api.PromoteRunRequest, context: Context
    ) -> api.PromoteRunResponse:
        track = await asyncio.to_thread(
            self.core.promote_run, principal(), _track(request.track_id), c.promote_request(request)
        )
        return api.PromoteRunResponse(track=c.track_to_proto(track))

    async def ListHeadChanges(
        self, request: api.ListHeadChangesRequest, context: Context
    ) -> api.ListHeadChangesResponse:
        page = await asyncio.to_thread(
            self.core.list_head_changes,
            principal(),
            _track(request.track_id),
            _page_size(request.page_size),
            request.page_token,
        )
        return api.ListHeadChangesResponse(
            head_changes=[c.head_change_to_proto(h) for h in page.items],
            next_page_token=page.next_page_token,
        )

    async def GetLeaderboard(
        self, request: api.GetLeaderboardRequest, context: Context
    ) -> api.GetLeaderboardResponse:
        board = await asyncio.to_thread(
            self.core.get_leaderboard,
            principal(),
            _track(request.track_id),
            c.optional(request, "limit"),
        )
        return c.leaderboard_to_proto(board)

    # --- harnesses ----------------------------------------------------------
    async def CreateHarness(
        self, request: api.CreateHarnessRequest, context: Context
    ) -> api.CreateHarnessResponse:
        harness = await asyncio.to_thread(
            self.core.create_harness, principal(), c.create_harness_request(request)
        )
        return api.CreateHarnessResponse(harness=c.harness_to_proto(harness))

    async def GetHarness(
        self, request: api.GetHarnessRequest, context: Context
    ) -> api.GetHarnessResponse:
        harness = await asyncio.to_thread(
            self.core.get_harness, principal(), c.strip_collection(request.harness_id, "harnesses")
        )
        return api.GetHarnessResponse(harness=c.harness_to_proto(harness))

    async def ListHarnesses(
        self, request: api.ListHarnessesRequest, context: Context
    ) -> api.ListHarnessesResponse:
        page = await asyncio.to_thread(
            self.core.list_harnesses, principal(), _page_size(request.page_size), request.page_token
        )
        return api.ListHarnessesResponse(
            harnesses=[c.harness_to_proto(h) for h in page.items],
            next_page_token=page.next_page_token,
        )

    # --- agents -------------------------------------------------------------
    async def CreateAgent(
        self, request: api.CreateAgentRequest, context: Context
    ) -> api.CreateAgentResponse:
        created = await asyncio.to_thread(
            self.core.create_agent, principal(), c.create_agent_request(request)
        )
        return api.CreateAgentResponse(
            agent=c.agent_to_proto(created.agent), api_key=created.api_key
        )

    async def GetAgent(
        self, request: api.GetAgentRequest, context: Context
    ) -> api.GetAgentResponse:
        caller = principal()
        agent_id = c.strip_collection(request.agent_id, "agents")
        agent = await asyncio.to_thread(self.core.get_agent, caller, agent_id)
        return api.GetAgentResponse(agent=c.agent_to_proto(agent))
