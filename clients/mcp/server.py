"""Loopy as MCP tools: one tool per API operation, named as its operationId in
snake_case (GetRun -> get_run), plus `wait_for_run`.

Built on the Python SDK (loopy_sdk) only: the tools speak HTTP to a running
Loopy, configured by LOOPY_URL (default http://127.0.0.1:8000) and
LOOPY_API_KEY. Run `loopy-mcp` (stdio transport) from an agent's MCP config.
Every tool returns the API's JSON; an API error becomes a tool error whose text
carries the problem (code, status, detail, details).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
from loopy_sdk import LoopyAPIError, LoopyClient, RunWaitTimeout, connect
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

DEFAULT_URL = "http://127.0.0.1:8000"
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
4. launch_run(track, revision), then wait_for_run(run) (call again if it is not finished);
   read get_metrics and get_run_logs (a FAILED run says why in failure_reason / failure_message).
5. evaluate(run): compares with the head over replicate seeds; poll get_evaluation until
   state is DONE. Verdict KEEP / DISCARD / INCONCLUSIVE.
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


def create_server(sdk: LoopyClient) -> MCPServer:
    """The MCP server with every Loopy tool bound to one SDK client."""
    server: MCPServer = MCPServer(
        name="loopy", title="Loopy research loop", instructions=INSTRUCTIONS, version="1.0.0"
    )

    def errors() -> Any:
        return _as_tool_errors(sdk.base_url)

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
    ) -> dict[str, Any]:
        """Keep a run: advance the track's head to its revision (after evaluate said KEEP).
        A compare-and-swap: a CONFLICT error means another agent advanced the head first;
        details.current_head names it; propose the edit again on top of it."""
        with errors():
            return sdk.promote_run(
                track, run, expected_head_revision=expected_head_revision
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
        """A version of train.py: its full `source`, the diff to its parent and to the
        baseline, description, author, children and the runs made of it."""
        with errors():
            return sdk.get_revision(revision).to_dict()

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

    return server


def main() -> None:
    """`loopy-mcp`: serve the tools over stdio for an MCP host (an agent)."""
    api_key = os.environ.get("LOOPY_API_KEY", "")
    if not api_key:
        sys.exit("loopy-mcp: set LOOPY_API_KEY (and LOOPY_URL, default " + DEFAULT_URL + ")")
    with connect(os.environ.get("LOOPY_URL", DEFAULT_URL), api_key) as sdk:
        create_server(sdk).run("stdio")


if __name__ == "__main__":
    main()
