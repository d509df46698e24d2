"""Loopy as MCP tools: one tool per API operation, named as its operationId in
snake_case (GetRun -> get_run), plus `wait_for_run` and `wait_for_evaluation`.

Built on the Python SDK (loopy_sdk) only: the tools speak HTTP to a running
Loopy at LOOPY_URL (default: the service `loopy up` runs on this machine).

- `loopy-mcp` serves stdio for a local MCP host, acting with LOOPY_API_KEY
  (default: that service's admin key).
- `loopy-mcp --http PORT` serves the streamable HTTP transport at /mcp for
  remote agents: each request must carry `Authorization: Bearer <Loopy API key>`
  (checked against Loopy; 401 otherwise) and the tools act as that key's agent.

Every tool returns the API's JSON; an API error becomes a tool error whose text
carries the problem (code, status, detail, details). Logs are quiet (warnings)
unless LOOPY_MCP_LOG_LEVEL says otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
from loopy_sdk import LoopyAPIError, LoopyClient, RunWaitTimeout, connect
from loopy_sdk.local import discover
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_LOG_LEVEL = "WARNING"  # an MCP host shows stderr to people: only what needs them
KEY_CHECK_TTL_S = 30.0  # how long a verified key is trusted before asking Loopy again
MAX_CLIENTS = 64  # SDK clients kept for distinct keys (HTTP transport)
MAX_WAIT_S = 600.0  # one wait_for_run call blocks at most this long; call again to keep waiting
DEFAULT_WAIT_S = 50.0  # below the ~60 s tool-call timeout many MCP hosts apply
DEFAULT_METRIC_POINTS = 1_000  # keeps a get_metrics answer small enough for a model's context
DEFAULT_LOG_TAIL_BYTES = 20_000

INSTRUCTIONS = """\
Loopy runs ML research loops: you edit one training file (train.py) of a track,
train it for a fixed time budget on a worker, and keep the change only if the
validation metric (val_bpb, bits per byte, lower is better) improves beyond noise.

The loop:
1. list_tracks, then get_program(track): the goal, metric, budget and the rules train.py must follow.
2. get_revision(track's head_revision): the current train.py source.
3. propose_edit(track, description, and one of unified_diff / search_replace / full_source).
   list_proposals(track) shows earlier proposals, refused ones with the reason.
4. launch_run(track, revision), then wait_for_run(run) (call again if it is not finished);
   read get_metrics and get_run_logs (a FAILED run says why in failure_reason / failure_message).
5. evaluate(run): compares with the head over replicate seeds; then
   wait_for_evaluation(run, evaluation) (call again if not finished). Verdict KEEP /
   DISCARD / INCONCLUSIVE (or another the track defines).
6. On KEEP, promote_run(track, run) to advance the head (CONFLICT means another agent moved
   it first: propose your edit again on the new head).
Errors come back as tool errors with a code (NOT_FOUND, INVALID_ARGUMENT, CONFLICT,
FAILED_PRECONDITION, RESOURCE_EXHAUSTED, ...) and details saying what to fix.
"""

READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)

TrackId = Annotated[str, Field(description="Track id, e.g. 'baseline' (see list_tracks).")]
RunId = Annotated[str, Field(description="Run id, as returned by launch_run or list_runs.")]
RevisionId = Annotated[str, Field(description="Revision id: the sha256 of a train.py source.")]
PageSize = Annotated[int | None, Field(description="Items per page (default 50).", ge=0)]
PageToken = Annotated[str, Field(description="next_page_token of the previous page; '' = first.")]
RequestId = Annotated[
    str | None,
    Field(
        description="Optional idempotency key: a retry with the same id returns the first result."
    ),
]


class SearchReplaceBlock(BaseModel):
    search: str = Field(description="Exact text of the current train.py to find (must match once).")
    replace: str = Field(description="The text to put in its place.")


def _problem_text(error: LoopyAPIError) -> str:
    return f"Loopy API error {error.code} ({error.status}): {error.detail}\n" + json.dumps(
        error.to_dict(), sort_keys=True, default=str
    )


@contextmanager
def _as_tool_errors(base_url: str) -> Iterator[None]:
    """API errors and an unreachable server become tool errors the model can read."""
    try:
        yield
    except LoopyAPIError as error:
        raise ToolError(_problem_text(error)) from error
    except httpx.TransportError as error:
        raise ToolError(
            f"cannot reach the Loopy API at {base_url} ({type(error).__name__}: {error}); "
            "check LOOPY_URL and that the server is running"
        ) from error


class KeyPool:
    """One SDK client per API key (HTTP transport: each remote agent brings its own)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._clients: OrderedDict[str, LoopyClient] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, api_key: str) -> LoopyClient:
        with self._lock:
            client = self._clients.pop(api_key, None) or connect(self.base_url, api_key)
            self._clients[api_key] = client
            while len(self._clients) > MAX_CLIENTS:
                _, old = self._clients.popitem(last=False)
                old.close()
            return client


class LoopyKeyVerifier:
    """The MCP SDK's TokenVerifier: a bearer token is valid when Loopy accepts it as
    an API key (one cheap authenticated call, remembered for KEY_CHECK_TTL_S)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._valid_until: dict[str, float] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        if self._valid_until.get(digest, 0.0) <= now:
            async with httpx.AsyncClient(timeout=10.0) as http:
                answer = await http.get(
                    f"{self.base_url}/v1/tracks",
                    params={"page_size": 1},
                    headers={"Authorization": f"Bearer {token}"},
                )
            if answer.status_code in (401, 403):
                self._valid_until.pop(digest, None)
                return None
            answer.raise_for_status()
            self._valid_until[digest] = now + KEY_CHECK_TTL_S
        return AccessToken(token=token, client_id=f"loopy-key-{digest[:12]}", scopes=[])


def create_server(
    sdk: LoopyClient | None = None,
    *,
    base_url: str | None = None,
    http_auth: bool = False,
    log_level: str = DEFAULT_LOG_LEVEL,
) -> MCPServer:
    """The MCP server with every Loopy tool.

    stdio (and in-process tests): every tool acts with `sdk`. With `http_auth` (the
    streamable HTTP transport) each request's bearer key is verified against Loopy at
    `base_url` and the tools act with that key; a request without one gets 401.
    """
    if sdk is None and not http_auth:
        raise ValueError("give an SDK client, or http_auth=True with base_url")
    url = (base_url or (sdk.base_url if sdk else DEFAULT_URL)).rstrip("/")
    pool = KeyPool(url)
    auth_kwargs: dict[str, Any] = {}
    if http_auth:
        auth_kwargs = {
            "token_verifier": LoopyKeyVerifier(url),
            "auth": AuthSettings(issuer_url=url, resource_server_url=None),  # type: ignore[arg-type]
        }
    server: MCPServer = MCPServer(
        name="loopy",
        title="Loopy research loop",
        instructions=INSTRUCTIONS,
        version="1.0.0",
        log_level=log_level.upper(),  # type: ignore[arg-type]
        **auth_kwargs,
    )

    def client() -> LoopyClient:
        """The SDK client of this call: the caller's key over HTTP, else the fixed one."""
        token = get_access_token()
        if token is not None:
            return pool.get(token.token)
        if sdk is None:
            raise ToolError("no API key: send Authorization: Bearer <Loopy API key>")
        return sdk

    def errors() -> Any:
        return _as_tool_errors(url)

    return _add_tools(server, client, errors)


def _add_tools(
    server: MCPServer, client: Callable[[], LoopyClient], errors: Callable[[], Any]
) -> MCPServer:
    class _Current:
        """`sdk.x(...)` inside a tool means the client of the current call."""

        def __getattr__(self, name: str) -> Any:
            return getattr(client(), name)

    sdk: Any = _Current()

    # --- tracks ---------------------------------------------------------------------

    @server.tool(annotations=READ)
    def list_tracks(page_size: PageSize = None, page_token: PageToken = "") -> dict[str, Any]:
        """List the tracks (lines of research). Each has an id, the harness, the head
        revision (current best train.py), its noise estimate and decision policy."""
        with errors():
            return sdk.list_tracks(page_size=page_size, page_token=page_token).to_dict()

    @server.tool(annotations=READ)
    def get_track(track: TrackId) -> dict[str, Any]:
        """One track: head_revision and head_run_id (the current best), baseline_revision,
        noise_std of the metric, policy (replicates, k_sigma, min_delta, auto_promote),
        time_budget_s and allowed_imports."""
        with errors():
            return sdk.get_track(track).to_dict()

    @server.tool(annotations=READ)
    def get_program(track: TrackId) -> dict[str, Any]:
        """Read this first: the research program of a track (`text`): the goal, the metric
        (val_bpb, lower is better), the time budget, the rules train.py must follow and
        the ids of the baseline and head revisions."""
        with errors():
            return sdk.get_program(track).to_dict()

    @server.tool(annotations=CREATE)
    def create_track(
        track_id: Annotated[str, Field(description="New id: lowercase letters, digits, '-'.")],
        harness_id: Annotated[str, Field(description="Harness (data + evaluation) to use.")],
        display_name: str = "",
        description: str = "",
        baseline_source: Annotated[
            str | None, Field(description="train.py to start from (default: Loopy's baseline).")
        ] = None,
        device_class: Annotated[str, Field(description="Worker queue: 'cpu', 'cuda', ...")] = "cpu",
        time_budget_s: Annotated[
            float | None, Field(description="Training seconds per run (default: harness's).")
        ] = None,
        policy: Annotated[
            dict[str, Any] | None,
            Field(
                description="Decision policy: calibration_runs, replicates, k_sigma, "
                "min_delta, auto_promote (defaults 3, 3, 2.0, 0.0, false)."
            ),
        ] = None,
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Admin only: create a track. Its baseline is trained calibration_runs times to
        measure the metric's noise before evaluations can decide."""
        fields: dict[str, Any] = {
            "display_name": display_name,
            "description": description,
            "device_class": device_class,
        }
        for name, value in (
            ("baseline_source", baseline_source),
            ("time_budget_s", time_budget_s),
            ("policy", policy),
            ("request_id", request_id),
        ):
            if value is not None:
                fields[name] = value
        with errors():
            return sdk.create_track(track_id, harness_id, **fields).to_dict()

    @server.tool(annotations=READ)
    def get_leaderboard(
        track: TrackId,
        limit: Annotated[
            int | None, Field(description="How many entries (default 20).", ge=0)
        ] = None,
    ) -> dict[str, Any]:
        """The best finished runs of a track by the metric (lower val_bpb is better),
        with their revisions, descriptions and authors."""
        with errors():
            return sdk.get_leaderboard(track, limit=limit).to_dict()

    @server.tool(annotations=CHANGE)
    def promote_run(
        track: TrackId,
        run: RunId,
        expected_head_revision: Annotated[
            str | None,
            Field(description="Head you think is current (default: the edit's base)."),
        ] = None,
        evaluation_id: Annotated[
            str | None,
            Field(description="The KEEP evaluation (default: the newest of the run's revision)."),
        ] = None,
        force: Annotated[
            bool, Field(description="Admin only: move the head without a KEEP (needs reason).")
        ] = False,
        reason: Annotated[str, Field(description="Why (required with force; recorded).")] = "",
    ) -> dict[str, Any]:
        """Keep a run: advance the track's head to its revision. Needs an evaluation of it
        against the current head that said KEEP (FAILED_PRECONDITION otherwise; an admin
        may force it with a reason). A compare-and-swap: a CONFLICT error means another
        agent advanced the head first; details.current_head names it; propose the edit
        again on top of it. Every head change is recorded (list_head_changes)."""
        with errors():
            return sdk.promote_run(
                track,
                run,
                expected_head_revision=expected_head_revision,
                evaluation_id=evaluation_id,
                force=force,
                reason=reason,
            ).to_dict()

    @server.tool(annotations=READ)
    def list_head_changes(
        track: TrackId, page_size: PageSize = None, page_token: PageToken = ""
    ) -> dict[str, Any]:
        """Every move of the track's head, oldest first: who moved it, when, on which KEEP
        evaluation, or forced by an admin and why."""
        with errors():
            return sdk.list_head_changes(
                track, page_size=page_size, page_token=page_token
            ).to_dict()

    # --- revisions ------------------------------------------------------------------

    @server.tool(annotations=CREATE)
    def propose_edit(
        track: TrackId,
        description: Annotated[
            str, Field(description="One line: what the change is and why it might help.")
        ],
        unified_diff: Annotated[
            str | None, Field(description="A unified diff (---/+++/@@ hunks) of train.py.")
        ] = None,
        search_replace: Annotated[
            list[SearchReplaceBlock] | None,
            Field(description="SEARCH/REPLACE blocks applied in order to train.py."),
        ] = None,
        full_source: Annotated[str | None, Field(description="The whole new train.py.")] = None,
        base_revision: Annotated[
            str | None, Field(description="Revision the edit is made on (default: the head).")
        ] = None,
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Propose a new train.py for a track: give exactly one of unified_diff,
        search_replace or full_source, plus a description. It is checked at once (the
        patch applies, the file parses and defines build_model and train); a rejection
        is an INVALID_ARGUMENT error saying which hunk/block did not match (with the
        nearest text) or where the syntax error is. Returns the new revision (its `id`
        is what launch_run takes); an identical source returns the existing revision
        and its runs (already_exists, existing_run_ids)."""
        blocks = [(b.search, b.replace) for b in search_replace] if search_replace else None
        with errors():
            return sdk.propose_edit(
                track,
                description=description,
                diff=unified_diff,
                blocks=blocks,
                source=full_source,
                base_revision=base_revision,
                request_id=request_id,
            ).to_dict()

    @server.tool(annotations=READ)
    def get_revision(revision: RevisionId) -> dict[str, Any]:
        """A version of train.py: `source` (the whole file), `diff_to_parent`,
        `diff_to_baseline`, description, author, parent_id, `children` and `run_ids`
        (the runs made of it)."""
        with errors():
            view = sdk.get_revision(revision).to_dict()
        # One flat object: the source at the top level, where a model looks first.
        return {**view.pop("revision"), **view}

    @server.tool(annotations=READ)
    def list_proposals(
        track: TrackId,
        author_agent_id: Annotated[str | None, Field(description="Only this agent's.")] = None,
        page_size: PageSize = None,
        page_token: PageToken = "",
    ) -> dict[str, Any]:
        """Every edit proposed on a track, newest first, accepted or not: a refused one
        keeps its patch and the reason (rejection_message, rejection_details), so you
        can see what was tried and why it did not apply."""
        with errors():
            return sdk.list_proposals(
                track, author_agent_id=author_agent_id, page_size=page_size, page_token=page_token
            ).to_dict()

    @server.tool(annotations=READ)
    def list_revisions(
        track: TrackId,
        author_agent_id: Annotated[str | None, Field(description="Only this agent's.")] = None,
        page_size: PageSize = None,
        page_token: PageToken = "",
    ) -> dict[str, Any]:
        """Every revision proposed on a track (the tree of tried ideas), newest first."""
        with errors():
            return sdk.list_revisions(
                track, author_agent_id=author_agent_id, page_size=page_size, page_token=page_token
            ).to_dict()

    # --- runs -----------------------------------------------------------------------

    @server.tool(annotations=CREATE)
    def launch_run(
        track: TrackId,
        revision: Annotated[
            str | None, Field(description="Revision id to train (default: the track head).")
        ] = None,
        seed: Annotated[int | None, Field(description="Random seed (default: chosen).")] = None,
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Queue a training run of a revision under the track's fixed time budget. Returns
        the run (state QUEUED); follow it with wait_for_run or get_run. RESOURCE_EXHAUSTED
        means your compute or queued-run quota is used up (retry_after_s says when)."""
        with errors():
            return sdk.launch_run(track, revision, seed=seed, request_id=request_id).to_dict()

    @server.tool(annotations=READ)
    def get_run(run: RunId) -> dict[str, Any]:
        """A run: state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED), failure_reason and
        failure_message when it failed, and `summary` when it finished (val_bpb,
        training_seconds, num_steps, num_params, peak_memory_mb, ...)."""
        with errors():
            return sdk.get_run(run).to_dict()

    @server.tool(annotations=READ)
    def wait_for_run(
        run: RunId,
        timeout_s: Annotated[
            float,
            Field(description=f"Longest wait in seconds (at most {MAX_WAIT_S:g}).", gt=0),
        ] = DEFAULT_WAIT_S,
    ) -> dict[str, Any]:
        """Block until a run is finished (SUCCEEDED, FAILED or CANCELLED), for at most
        timeout_s. Returns {"finished": bool, "run": {...}}; when finished is false the
        run is still going: call wait_for_run again."""
        with errors():
            try:
                finished = sdk.wait_for_run(run, min(timeout_s, MAX_WAIT_S))
            except RunWaitTimeout as timeout:
                return {"finished": False, "run": timeout.resource.to_dict()}
            return {"finished": True, "run": finished.to_dict()}

    @server.tool(annotations=READ)
    def list_runs(
        track: TrackId,
        state: Annotated[
            str | None,
            Field(
                description="Only runs in this state: QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED."
            ),
        ] = None,
        page_size: PageSize = None,
        page_token: PageToken = "",
    ) -> dict[str, Any]:
        """The runs of a track, newest first, with their state, revision, seed and (when
        finished) summary.val_bpb; filter by state to find what is queued or running."""
        with errors():
            return sdk.list_runs(
                track, state=state, page_size=page_size, page_token=page_token
            ).to_dict()

    @server.tool(annotations=CHANGE)
    def cancel_run(run: RunId) -> dict[str, Any]:
        """Cancel a queued or running run you launched. FAILED_PRECONDITION if it has
        already finished."""
        with errors():
            return sdk.cancel_run(run).to_dict()

    @server.tool(annotations=READ)
    def get_metrics(
        run: RunId,
        names: Annotated[
            list[str] | None, Field(description="Only these series, e.g. ['loss'].")
        ] = None,
        since_step: Annotated[
            int | None, Field(description="Only points at or after this step.", ge=0)
        ] = None,
        limit: Annotated[int, Field(description="At most this many points.", ge=1)] = (
            DEFAULT_METRIC_POINTS
        ),
    ) -> dict[str, Any]:
        """The metric time series a run reported while training (loss, lr, ... per step).
        When next_since_step is not null there are more: call again with
        since_step=next_since_step. The final val_bpb is in get_run's summary."""
        with errors():
            return sdk.get_metrics(run, since_step=since_step, names=names, limit=limit).to_dict()

    @server.tool(annotations=READ)
    def get_run_logs(
        run: RunId,
        tail_bytes: Annotated[
            int, Field(description="Return only the last this many bytes.", ge=0)
        ] = DEFAULT_LOG_TAIL_BYTES,
    ) -> dict[str, Any]:
        """The tail of a run's stdout/stderr: read it when a run FAILED (tracebacks,
        NaN losses, out-of-memory)."""
        with errors():
            return sdk.get_run_logs(run, tail_bytes=tail_bytes).to_dict()

    @server.tool(annotations=READ)
    def get_artifact(
        run: RunId,
        name: Annotated[
            str, Field(description="Artifact name from the run's summary.artifacts, e.g. 'log'.")
        ],
        max_bytes: Annotated[
            int, Field(description="Return at most the last this many bytes.", ge=1)
        ] = (DEFAULT_LOG_TAIL_BYTES),
    ) -> dict[str, Any]:
        """A file a run produced. Text (a log) comes back as `text` (its last max_bytes);
        a binary file (a checkpoint) as its size and sha256 only."""
        with errors():
            data = sdk.get_artifact(run, name)
        answer: dict[str, Any] = {
            "run_id": run,
            "name": name,
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        try:
            answer["text"] = data[-max_bytes:].decode()
            answer["truncated"] = len(data) > max_bytes
        except UnicodeDecodeError:
            answer["text"] = None  # binary: a model cannot use the bytes
        return answer

    # --- evaluations ----------------------------------------------------------------

    @server.tool(annotations=CREATE)
    def evaluate(
        run: RunId,
        replicates: Annotated[
            int | None, Field(description="Seeds per side (default: the track policy).", ge=1)
        ] = None,
        reference_run_id: Annotated[
            str | None, Field(description="Compare against this run (default: the head).")
        ] = None,
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Decide whether a SUCCEEDED run beats the track head beyond noise. It may launch
        replicate runs (other seeds) first, so the evaluation starts PENDING: poll
        get_evaluation until state is DONE. Then verdict is KEEP (promote_run it),
        DISCARD or INCONCLUSIVE, with means, delta and z_score."""
        with errors():
            return sdk.evaluate(
                run, replicates=replicates, reference_run_id=reference_run_id, request_id=request_id
            ).to_dict()

    @server.tool(annotations=READ)
    def get_evaluation(
        run: RunId,
        evaluation: Annotated[str, Field(description="Evaluation id, as returned by evaluate.")],
    ) -> dict[str, Any]:
        """An evaluation: state (PENDING, DONE, FAILED), verdict, candidate and reference
        statistics, delta, noise_std, z_score, and whether it was promoted."""
        with errors():
            return sdk.get_evaluation(run, evaluation).to_dict()

    @server.tool(annotations=READ)
    def wait_for_evaluation(
        run: RunId,
        evaluation: Annotated[str, Field(description="Evaluation id, as returned by evaluate.")],
        timeout_s: Annotated[
            float,
            Field(description=f"Longest wait in seconds (at most {MAX_WAIT_S:g}).", gt=0),
        ] = DEFAULT_WAIT_S,
    ) -> dict[str, Any]:
        """Block until an evaluation has its answer (state no longer PENDING), for at
        most timeout_s. Returns {"finished": bool, "evaluation": {...}}; when finished is
        false its replicate runs are still training: call wait_for_evaluation again."""
        with errors():
            try:
                done = sdk.wait_for_evaluation(run, evaluation, min(timeout_s, MAX_WAIT_S))
            except RunWaitTimeout as timeout:
                return {"finished": False, "evaluation": timeout.resource.to_dict()}
            return {"finished": True, "evaluation": done.to_dict()}

    # --- history ----------------------------------------------------------------------

    @server.tool(annotations=READ)
    def export_results(track: TrackId) -> str:
        """Every finished run of a track as tab-separated text, one line per run
        (run_id, revision, val_bpb, memory_gb, status, description): the whole history
        at a glance."""
        with errors():
            return str(sdk.export_results(track))

    @server.tool(annotations=READ)
    def get_progress_chart(track: TrackId) -> Image:
        """The progress chart of a track as a PNG image: val_bpb of every run over time,
        kept ones highlighted, the running best as a line."""
        with errors():
            return Image(data=sdk.get_progress_chart(track), format="png")

    # --- harnesses and agents (admin) -----------------------------------------------------

    @server.tool(annotations=READ)
    def list_harnesses(page_size: PageSize = None, page_token: PageToken = "") -> dict[str, Any]:
        """The harnesses (fixed data, tokenizer and evaluation) tracks can use."""
        with errors():
            return sdk.list_harnesses(page_size=page_size, page_token=page_token).to_dict()

    @server.tool(annotations=READ)
    def get_harness(
        harness: Annotated[str, Field(description="Harness id (16 hex characters).")],
    ) -> dict[str, Any]:
        """One harness: vocabulary size, sequence length, evaluation tokens, time budget,
        metric and the sha256 of every file."""
        with errors():
            return sdk.get_harness(harness).to_dict()

    @server.tool(annotations=CREATE)
    def create_harness(
        path: Annotated[
            str | None, Field(description="A prepared harness directory on the server.")
        ] = None,
        demo: Annotated[bool, Field(description="Register the built-in demo harness.")] = False,
        description: str = "",
        request_id: RequestId = None,
    ) -> dict[str, Any]:
        """Admin only: register a harness (a directory `loopy data prepare` wrote, on the
        server's disk, or the demo one); its id is derived from its contents."""
        with errors():
            return sdk.create_harness(
                path=path, demo=demo, description=description, request_id=request_id
            ).to_dict()

    @server.tool(annotations=CREATE)
    def create_agent(
        name: Annotated[str, Field(description="A name for the new caller, e.g. agent-7.")],
        role: Annotated[str, Field(description="'agent' (default) or 'admin'.")] = "agent",
    ) -> dict[str, Any]:
        """Admin only: create a caller and its API key. The key is in this answer only
        (it is stored hashed)."""
        with errors():
            return sdk.create_agent(name, role=role).to_dict()

    @server.tool(annotations=READ)
    def get_agent(
        agent: Annotated[str, Field(description="Agent id.")],
    ) -> dict[str, Any]:
        """A caller: name, role and quotas (compute seconds, queued runs) with their use."""
        with errors():
            return sdk.get_agent(agent).to_dict()

    return server


def main(argv: list[str] | None = None) -> None:
    """`loopy-mcp [--http PORT]`: the tools over stdio, or over streamable HTTP."""
    parser = argparse.ArgumentParser(
        prog="loopy-mcp",
        description="Loopy's API as MCP tools. stdio by default (for a local MCP host); "
        "--http PORT serves the streamable HTTP transport at /mcp, where every request "
        "must carry Authorization: Bearer <Loopy API key>.",
    )
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP listen address")
    args = parser.parse_args(argv)
    log_level = os.environ.get("LOOPY_MCP_LOG_LEVEL", DEFAULT_LOG_LEVEL).upper()
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(log_level)))
    target = discover()
    if args.http is not None:
        _serve_http(target.url, args.host, args.http, log_level)
        return
    if not target.api_key:
        sys.exit(
            f"loopy-mcp: no API key: set LOOPY_API_KEY (and LOOPY_URL, default {DEFAULT_URL}); "
            f"{target.key_from} does not exist"
        )
    with connect(target.url, target.api_key) as sdk:
        create_server(sdk, log_level=log_level).run("stdio")


def _serve_http(base_url: str, host: str, port: int, log_level: str) -> None:
    import uvicorn

    server = create_server(base_url=base_url, http_auth=True, log_level=log_level)
    app = server.streamable_http_app(host=host)
    print(
        f"loopy-mcp: streamable HTTP on http://{host}:{port}/mcp (Loopy at {base_url}; "
        "each request needs Authorization: Bearer <Loopy API key>)",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)


if __name__ == "__main__":
    main()
