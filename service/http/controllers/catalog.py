"""Revisions, harnesses and agents: the things runs are made of and made by."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.openapi.spec import Example
from litestar.params import Body, PathParameter

from service.domain.models import Agent, CreatedAgent, Harness, RevisionView
from service.domain.service import CreateAgentRequest, CreateHarnessRequest
from service.http.controllers import PAGE_SIZE, PAGE_TOKEN, SECURITY, Caller, CoreDep
from service.http.schemas import ListHarnessesResponse, errors, page_of


class RevisionController(Controller):
    path = "/v1/revisions"
    tags = ["revisions"]
    security = SECURITY

    @get(
        "/{revision:str}",
        operation_id="GetRevision",
        summary="Get a revision: source, diff and lineage",
        sync_to_thread=True,
        responses=errors(401, 404),
    )
    def get_revision(
        self,
        core: CoreDep,
        principal: Caller,
        revision: Annotated[
            str, PathParameter(description="Revision id: the sha256 of its train.py source.")
        ],
    ) -> RevisionView:
        """One version of `train.py`: the full source, its parent, author and
        description, the diff against its parent and against the track baseline,
        its children (ideas built on it) and the runs that trained it."""
        return core.get_revision(principal, revision)


class HarnessController(Controller):
    path = "/v1/harnesses"
    tags = ["harnesses"]
    security = SECURITY

    @post(
        "/",
        operation_id="CreateHarness",
        summary="Register a harness (admin)",
        sync_to_thread=True,
        responses=errors(400, 401, 403, 404, 409),
    )
    def create_harness(
        self,
        core: CoreDep,
        principal: Caller,
        data: Annotated[
            CreateHarnessRequest,
            Body(
                examples=[
                    Example(summary="The built-in demo harness", value={"demo": True}),
                    Example(
                        summary="A prepared harness directory on the server",
                        value={"path": "/data/harnesses/fineweb-8k", "description": "FineWeb 8k"},
                    ),
                ]
            ),
        ],
    ) -> Harness:
        """Register the fixed, read-only part of experiments (admin only): tokenized
        training shards, the pinned validation set, tokenizer, sequence length,
        time budget and metric. `path` is a prepared harness directory readable by
        the server (`loopy data prepare`); `demo: true` builds the small demo
        harness. Files are copied to the artifact store and verified; the id is
        derived from their hashes, so registering the same harness twice returns it."""
        return core.create_harness(principal, data)

    @get(
        "/",
        operation_id="ListHarnesses",
        summary="List harnesses",
        sync_to_thread=True,
        responses=errors(400, 401),
    )
    def list_harnesses(
        self,
        core: CoreDep,
        principal: Caller,
        page_size: Annotated[int | None, PAGE_SIZE] = None,
        page_token: Annotated[str, PAGE_TOKEN] = "",
    ) -> ListHarnessesResponse:
        """Every registered harness (needed to create a track)."""
        page = core.list_harnesses(principal, page_size, page_token)
        return page_of(page, ListHarnessesResponse)  # type: ignore[no-any-return]

    @get(
        "/{harness:str}",
        operation_id="GetHarness",
        summary="Get a harness",
        sync_to_thread=True,
        responses=errors(401, 404),
    )
    def get_harness(
        self,
        core: CoreDep,
        principal: Caller,
        harness: Annotated[str, PathParameter(description="Harness id (16 hex characters).")],
    ) -> Harness:
        """A harness: vocabulary size, sequence length, validation tokens, time
        budget, metric and the sha256 of every file."""
        return core.get_harness(principal, harness)


class AgentController(Controller):
    path = "/v1/agents"
    tags = ["agents"]
    security = SECURITY

    @post(
        "/",
        operation_id="CreateAgent",
        summary="Create an agent and its API key (admin)",
        sync_to_thread=True,
        responses=errors(400, 401, 403),
    )
    def create_agent(
        self,
        core: CoreDep,
        principal: Caller,
        data: Annotated[
            CreateAgentRequest,
            Body(
                examples=[
                    Example(
                        summary="An agent with a small quota",
                        value={
                            "name": "agent-7",
                            "role": "agent",
                            "quota": {"max_queued_runs": 4, "max_compute_seconds": 36000},
                        },
                    )
                ]
            ),
        ],
    ) -> CreatedAgent:
        """Create a caller (admin only). The answer holds `api_key`, shown this once
        (only its hash is stored): give it to the agent as `Authorization: Bearer <key>`."""
        return core.create_agent(principal, data)

    @get(
        "/{agent:str}",
        operation_id="GetAgent",
        summary="Get an agent (`me`: the caller)",
        sync_to_thread=True,
        responses=errors(401, 403, 404),
    )
    def get_agent(
        self,
        core: CoreDep,
        principal: Caller,
        agent: Annotated[
            str,
            PathParameter(description="Agent id, or `me` for the agent your key belongs to."),
        ],
    ) -> Agent:
        """An agent: its id, role, quota (queued runs, compute seconds) and the compute
        seconds used so far. `GET /v1/agents/me` answers "who am I"; an agent may read
        only itself, admins anyone."""
        return core.get_agent(principal, agent)
