"""Tracks: lines of research, their program, proposals, runs, head and history."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, PathParameter, QueryParameter

from service.domain.models import (
    Leaderboard,
    Program,
    PromoteRequest,
    ProposeEditRequest,
    ProposeEditResult,
    RunState,
    Track,
)
from service.domain.service import CreateTrackRequest
from service.http.controllers import PAGE_SIZE, PAGE_TOKEN, SECURITY, Caller, CoreDep
from service.http.schemas import (
    ListHeadChangesResponse,
    ListProposalsResponse,
    ListRevisionsResponse,
    ListRunsResponse,
    ListTracksResponse,
    errors,
    page_of,
)

TRACK = PathParameter(description="Track id, e.g. `baseline-cpu` (see ListTracks).")
AUTHOR = QueryParameter(
    name="author_agent_id", required=False, description="Only those by this agent id."
)

_BASELINE_DIFF = """--- a/train.py
+++ b/train.py
@@ -10,1 +10,1 @@
-LEARNING_RATE = 3e-4  # AdamW
+LEARNING_RATE = 6e-4  # AdamW
"""


class TrackController(Controller):
    path = "/v1/tracks"
    tags = ["tracks"]
    security = SECURITY

    @post(
        "/",
        operation_id="CreateTrack",
        summary="Create a track (admin)",
        sync_to_thread=True,
        responses=errors(400, 401, 403, 404, 409),
    )
    def create_track(
        self,
        core: CoreDep,
        principal: Caller,
        data: Annotated[
            CreateTrackRequest,
            Body(
                examples=[
                    Example(
                        summary="A CPU track on the demo harness",
                        value={
                            "track_id": "baseline-cpu",
                            "harness_id": "3f9a1c0d2b7e4a61",
                            "display_name": "Baseline on CPU",
                            "device_class": "cpu",
                            "time_budget_s": 60,
                            "policy": {"calibration_runs": 3, "replicates": 3, "k_sigma": 2.0},
                            "request_id": "create-baseline-cpu-1",
                        },
                    )
                ]
            ),
        ],
    ) -> Track:
        """Start a new line of research on a harness (admin only).

        Stores the baseline `train.py` (the trainer's baseline unless
        `baseline_source` is given) as both the baseline and the head revision,
        and launches `policy.calibration_runs` baseline runs with different seeds
        so the track learns the noise of its metric. Idempotent by `request_id`.
        409 when the track id is taken, 404 when the harness does not exist.
        """
        return core.create_track(principal, data)

    @get(
        "/",
        operation_id="ListTracks",
        summary="List tracks",
        sync_to_thread=True,
        responses=errors(400, 401),
    )
    def list_tracks(
        self,
        core: CoreDep,
        principal: Caller,
        page_size: Annotated[int | None, PAGE_SIZE] = None,
        page_token: Annotated[str, PAGE_TOKEN] = "",
    ) -> ListTracksResponse:
        """Every track, oldest first. Start here to find a track to work on."""
        page = core.list_tracks(principal, page_size, page_token)
        return page_of(page, ListTracksResponse)  # type: ignore[no-any-return]

    @get(
        "/{track:str}",
        operation_id="GetTrack",
        summary="Get a track",
        sync_to_thread=True,
        responses=errors(401, 404),
    )
    def get_track(self, core: CoreDep, principal: Caller, track: Annotated[str, TRACK]) -> Track:
        """A track: its harness, baseline and head revision (the current best), the
        run that justified the head, the decision policy and the measured noise."""
        return core.get_track(principal, track)

    @get(
        "/{track:str}/program",
        operation_id="GetProgram",
        summary="Read the research program",
        sync_to_thread=True,
        responses=errors(401, 404),
    )
    def get_program(
        self, core: CoreDep, principal: Caller, track: Annotated[str, TRACK]
    ) -> Program:
        """The research program for agents, in markdown: the goal, the metric (lower
        is better), the time budget, the rules of `train.py`, and the loop to follow
        (ProposeEdit -> LaunchRun -> watch -> Evaluate -> PromoteRun). Read this first."""
        return core.get_program(principal, track)

    @post(
        "/{track:str}/revisions",
        operation_id="ProposeEdit",
        summary="Propose an edit to train.py",
        sync_to_thread=True,
        responses=errors(400, 401, 403, 404, 413),
    )
    def propose_edit(
        self,
        core: CoreDep,
        principal: Caller,
        track: Annotated[str, TRACK],
        data: Annotated[
            ProposeEditRequest,
            Body(
                examples=[
                    Example(
                        summary="A unified diff against the head",
                        value={
                            "description": "double the learning rate",
                            "unified_diff": _BASELINE_DIFF,
                            "request_id": "agent7-edit-42",
                        },
                    ),
                    Example(
                        summary="SEARCH/REPLACE blocks",
                        value={
                            "description": "double the learning rate",
                            "search_replace": [
                                {
                                    "search": "LEARNING_RATE = 3e-4",
                                    "replace": "LEARNING_RATE = 6e-4",
                                }
                            ],
                        },
                    ),
                ]
            ),
        ],
    ) -> ProposeEditResult:
        """Create a new revision of the track's `train.py` from the head (or
        `base_revision`) and exactly one of: `unified_diff`, `search_replace`
        blocks, or `full_source`. The result must apply, parse, define
        `build_model` and `train`, and stay under the size limits; a diff made on an
        older base is rebased onto the head when it merges cleanly.

        A refusal is a 400 whose `details` says precisely why (the hunk or block
        that did not match and the nearest text; the syntax error with line and
        column). Proposing source that already exists returns that revision with
        `already_exists: true` and its runs, so nothing is trained twice by accident.
        Next: LaunchRun with the returned `revision.id`.
        """
        return core.propose_edit(principal, track, data)

    @get(
        "/{track:str}/revisions",
        operation_id="ListRevisions",
        summary="List the revisions of a track",
        sync_to_thread=True,
        responses=errors(400, 401, 404),
    )
    def list_revisions(
        self,
        core: CoreDep,
        principal: Caller,
        track: Annotated[str, TRACK],
        author_agent_id: Annotated[str | None, AUTHOR] = None,
        page_size: Annotated[int | None, PAGE_SIZE] = None,
        page_token: Annotated[str, PAGE_TOKEN] = "",
    ) -> ListRevisionsResponse:
        """Every accepted revision of the track, oldest first: the whole tree of
        tried ideas (revisions are never deleted)."""
        page = core.list_revisions(principal, track, author_agent_id, page_size, page_token)
        return page_of(page, ListRevisionsResponse)  # type: ignore[no-any-return]

    @get(
        "/{track:str}/proposals",
        operation_id="ListProposals",
        summary="List every proposed edit, accepted or refused",
        sync_to_thread=True,
        responses=errors(400, 401, 404),
    )
    def list_proposals(
        self,
        core: CoreDep,
        principal: Caller,
        track: Annotated[str, TRACK],
        author_agent_id: Annotated[str | None, AUTHOR] = None,
        page_size: Annotated[int | None, PAGE_SIZE] = None,
        page_token: Annotated[str, PAGE_TOKEN] = "",
    ) -> ListProposalsResponse:
        """Every ProposeEdit call on the track with the patch as sent and its
        outcome: ACCEPTED (with the revision id) or REJECTED (with the reason).
        Useful to avoid re-trying an idea that was already refused."""
        page = core.list_proposals(principal, track, author_agent_id, page_size, page_token)
        return page_of(page, ListProposalsResponse)  # type: ignore[no-any-return]

    @get(
        "/{track:str}/runs",
        operation_id="ListRuns",
        summary="List the runs of a track",
        sync_to_thread=True,
        responses=errors(400, 401, 404),
    )
    def list_runs(
        self,
        core: CoreDep,
        principal: Caller,
        track: Annotated[str, TRACK],
        run_state: Annotated[
            RunState | None,
            QueryParameter(name="state", required=False, description="Only runs in this state."),
        ] = None,
        page_size: Annotated[int | None, PAGE_SIZE] = None,
        page_token: Annotated[str, PAGE_TOKEN] = "",
    ) -> ListRunsResponse:
        """Runs of the track, newest first, optionally only those in one state
        (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)."""
        page = core.list_runs(principal, track, run_state, page_size, page_token)
        return page_of(page, ListRunsResponse)  # type: ignore[no-any-return]

    @post(
        "/{track:str}/promote",
        operation_id="PromoteRun",
        summary="Keep a run: advance the track head to its revision",
        status_code=200,
        sync_to_thread=True,
        responses=errors(400, 401, 403, 404, 409, 412),
    )
    def promote_run(
        self,
        core: CoreDep,
        principal: Caller,
        track: Annotated[str, TRACK],
        data: Annotated[
            PromoteRequest,
            Body(
                examples=[
                    Example(
                        summary="Promote a run whose evaluation said KEEP",
                        value={
                            "run_id": "r-01J9Z3",
                            "expected_head_revision": "9c1e0f...",
                        },
                    ),
                    Example(
                        summary="An admin forces a promotion without a KEEP",
                        value={
                            "run_id": "r-01J9Z3",
                            "force": True,
                            "reason": "restore the head after a bad harness change",
                        },
                    ),
                ]
            ),
        ],
    ) -> Track:
        """Make the run's revision the new head of the track (a compare-and-swap).

        The head moves on evidence only: the run's revision needs a finished
        evaluation with verdict KEEP against the current head (`evaluation_id`
        picks one; default: the newest). Without one the answer is 412 with the
        evaluations found in `details`. An admin may pass `force: true` with a
        `reason` instead; every change is recorded (ListHeadChanges). If another
        agent advanced the head first, the answer is 409 with the current head in
        `details`: rebase your idea on it (ProposeEdit), run and evaluate again.
        Returns the updated track.
        """
        return core.promote_run(principal, track, data)

    @get(
        "/{track:str}/head-changes",
        operation_id="ListHeadChanges",
        summary="Every move of a track's head",
        sync_to_thread=True,
        responses=errors(400, 401, 404),
    )
    def list_head_changes(
        self,
        core: CoreDep,
        principal: Caller,
        track: Annotated[str, TRACK],
        page_size: Annotated[int | None, PAGE_SIZE] = None,
        page_token: Annotated[str, PAGE_TOKEN] = "",
    ) -> ListHeadChangesResponse:
        """The head's history, oldest first: who moved it, when, on which KEEP
        evaluation, or forced by an admin and why."""
        page = core.list_head_changes(principal, track, page_size, page_token)
        return page_of(page, ListHeadChangesResponse)  # type: ignore[no-any-return]

    @get(
        "/{track:str}/leaderboard",
        operation_id="GetLeaderboard",
        summary="Best revisions of a track",
        sync_to_thread=True,
        responses=errors(400, 401, 404),
    )
    def get_leaderboard(
        self,
        core: CoreDep,
        principal: Caller,
        track: Annotated[str, TRACK],
        limit: Annotated[
            int | None,
            QueryParameter(name="limit", ge=1, required=False, description="At most this many."),
        ] = None,
    ) -> Leaderboard:
        """Revisions ranked by their best finished run on the track's metric (lower
        is better), with mean, run count and whether each is the head."""
        return core.get_leaderboard(principal, track, limit)

    @get(
        "/{track:str}/results.tsv",
        operation_id="ExportResults",
        summary="History of the track as TSV",
        media_type="text/tab-separated-values",
        sync_to_thread=True,
        responses=errors(401, 404),
        response_description="Tab-separated: run, revision, val_bpb, memory, status, description",
    )
    def export_results(
        self, core: CoreDep, principal: Caller, track: Annotated[str, TRACK]
    ) -> Response[str]:
        """Every finished run of the track as an autoresearch-style `results.tsv`
        (one line per run: run id, revision, val_bpb, peak memory, status, description)."""
        text = core.results_tsv(principal, track)
        return Response(content=text, media_type="text/tab-separated-values")

    @get(
        "/{track:str}/progress.png",
        operation_id="GetProgressChart",
        summary="Progress chart of the track (PNG)",
        media_type="image/png",
        sync_to_thread=True,
        responses={
            200: ResponseSpec(
                data_container=bytes,
                media_type="image/png",
                description="The metric of every finished run over time; the head's running best as a step line",
                generate_examples=False,
            ),
            **errors(401, 404),
        },
    )
    def get_progress_chart(
        self, core: CoreDep, principal: Caller, track: Annotated[str, TRACK]
    ) -> Response[bytes]:
        """A PNG chart of the track's progress: each finished run's metric over
        time, kept runs highlighted, the head's running best as a step line."""
        return Response(content=core.progress_png(principal, track), media_type="image/png")
