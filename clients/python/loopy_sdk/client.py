"""`LoopyClient`: the generated SDK with errors as exceptions, plus the few helpers
a research loop needs (wait for a run, read all metrics, propose an edit by diff,
blocks or source).

Every method is one API operation named as its operationId in snake_case
(`GetRun` -> `get_run`) and returns the generated model (`loopy_client.models`);
the helpers (`launch_and_wait`, `wait_for_run`, `wait_for_evaluation`,
`metrics`, `watch_run`) are built from those operations only.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from loopy_client import AuthenticatedClient
from loopy_client.api.agents import create_agent, get_agent
from loopy_client.api.harnesses import create_harness, get_harness, list_harnesses
from loopy_client.api.revisions import get_revision
from loopy_client.api.runs import (
    cancel_run,
    evaluate,
    get_artifact,
    get_evaluation,
    get_metrics,
    get_run,
    get_run_logs,
    launch_run,
)
from loopy_client.api.tracks import (
    create_track,
    export_results,
    get_leaderboard,
    get_program,
    get_progress_chart,
    get_track,
    list_head_changes,
    list_proposals,
    list_revisions,
    list_runs,
    list_tracks,
    promote_run,
    propose_edit,
)
from loopy_client.models import (
    Agent,
    CreateAgentRequest,
    CreatedAgent,
    CreateHarnessRequest,
    CreateTrackRequest,
    EvaluateRequest,
    Evaluation,
    EvaluationState,
    Harness,
    LaunchRunRequest,
    Leaderboard,
    ListHarnessesResponse,
    ListHeadChangesResponse,
    ListProposalsResponse,
    ListRevisionsResponse,
    ListRunsResponse,
    ListTracksResponse,
    MetricSeries,
    Program,
    PromoteRequest,
    ProposeEditRequest,
    ProposeEditResult,
    RevisionView,
    Run,
    RunLogs,
    RunState,
    SearchReplaceBlock,
    Track,
)
from loopy_client.types import UNSET, File

from loopy_sdk.errors import LoopyAPIError, RunWaitTimeout
from loopy_sdk.events import RunEvent, run_events

TERMINAL_RUN_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})
DEFAULT_TIMEOUT_S = 30.0  # per request; WatchRun streams use it as the gap between lines
# The server sends an SSE keep-alive comment every 15 s; a stream quiet for longer is dead.
SSE_QUIET_S = 20.0
MAX_STREAM_FAILURES = 3  # then wait_for_run polls GetRun for the rest of its time


def connect(
    base_url: str | None = None,
    api_key: str | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> LoopyClient:
    """A client for the Loopy API at `base_url` (e.g. http://127.0.0.1:8000) with an API key.

    Either left out comes from LOOPY_URL / LOOPY_API_KEY, else from the service that
    `loopy up` runs on this machine (its URL and admin key in the data dir)."""
    if base_url is None or api_key is None:
        from loopy_sdk.local import discover

        found = discover()
        base_url = base_url or found.url
        api_key = api_key or found.api_key
        if not api_key:
            raise ValueError(
                f"no API key: pass one, set LOOPY_API_KEY, or start `loopy up` ({found.key_from})"
            )
    return LoopyClient(base_url, api_key, timeout_s=timeout_s)


def _opt(value: Any) -> Any:
    """None means "not given" (the generated SDK's UNSET) for optional arguments."""
    return UNSET if value is None else value


def _raise_for_problem(response: httpx.Response) -> None:
    """httpx response hook: every error answer becomes a LoopyAPIError, before the
    generated parser sees it (so undocumented statuses and non-JSON bodies too)."""
    if response.status_code >= 400:
        response.read()
        raise LoopyAPIError.from_response(response)


class LoopyClient:
    """Synchronous Loopy client. Use as a context manager or call `close()`.

    The generated client is `.api` (a `loopy_client.AuthenticatedClient`) for
    operations without a helper here: `loopy_client.api.<tag>.<operation>.sync(client=c.api, ...)`.
    """

    def __init__(
        self, base_url: str, api_key: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api = AuthenticatedClient(base_url=self.base_url, token=api_key)
        self.api.set_httpx_client(
            httpx.Client(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=httpx.Timeout(timeout_s),
                event_hooks={"response": [_raise_for_problem]},
            )
        )

    def close(self) -> None:
        self.api.get_httpx_client().close()

    def __enter__(self) -> LoopyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, operation: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a generated operation module; errors were raised by the response hook."""
        return operation.sync_detailed(*args, client=self.api, **kwargs).parsed

    # --- tracks and the program ---------------------------------------------------

    def get_program(self, track: str) -> Program:
        """The research program of a track: goal, metric, budget, rules of train.py."""
        return self._call(get_program, track)  # type: ignore[no-any-return]

    def create_track(self, track_id: str, harness_id: str, **fields: Any) -> Track:  # admin only
        """Create a track (admin). `fields` are CreateTrackRequest's: display_name,
        description, program, baseline_source, device_class, time_budget_s,
        budget_kind ("WALL_SECONDS" or "TOKENS"), token_budget, policy (dict:
        calibration_runs, replicates, max_pairs, min_delta, fdr_alpha, speed_tolerance,
        auto_promote), allowed_imports, request_id."""
        body = CreateTrackRequest.from_dict(
            {"track_id": track_id, "harness_id": harness_id, **fields}
        )
        return self._call(create_track, body=body)  # type: ignore[no-any-return]

    def get_track(self, track: str) -> Track:
        return self._call(get_track, track)  # type: ignore[no-any-return]

    def list_tracks(
        self, *, page_size: int | None = None, page_token: str = ""
    ) -> ListTracksResponse:
        return self._call(  # type: ignore[no-any-return]
            list_tracks, page_size=_opt(page_size), page_token=page_token
        )

    def get_leaderboard(self, track: str, *, limit: int | None = None) -> Leaderboard:
        return self._call(get_leaderboard, track, limit=_opt(limit))  # type: ignore[no-any-return]

    def promote_run(
        self,
        track: str,
        run: str,
        *,
        expected_head_revision: str | None = None,
        evaluation_id: str | None = None,
        force: bool = False,
        reason: str = "",
    ) -> Track:
        """Advance the track's head to the run's revision. Needs a KEEP evaluation against
        the current head (FAILED_PRECONDITION otherwise) unless an admin passes
        `force=True` with a `reason`. A compare-and-swap: a CONFLICT error means another
        agent moved the head first; its details name the new head."""
        body = PromoteRequest(
            run_id=run,
            expected_head_revision=_opt(expected_head_revision),
            evaluation_id=_opt(evaluation_id),
            force=force,
            reason=reason,
        )
        return self._call(promote_run, track, body=body)  # type: ignore[no-any-return]

    def list_head_changes(
        self, track: str, *, page_size: int | None = None, page_token: str = ""
    ) -> ListHeadChangesResponse:
        """Every move of the track's head, oldest first (who, when, which evaluation, or
        forced and why)."""
        return self._call(  # type: ignore[no-any-return]
            list_head_changes, track, page_size=_opt(page_size), page_token=page_token
        )

    def export_results(self, track: str) -> str:
        """Every finished run as tab-separated text (autoresearch's results.tsv)."""
        return self._call(export_results, track)  # type: ignore[no-any-return]

    def get_progress_chart(self, track: str) -> bytes:
        """The PNG progress chart of a track."""
        chart: File = self._call(get_progress_chart, track)
        return chart.payload.read()

    # --- revisions ----------------------------------------------------------------

    def propose_edit(
        self,
        track: str,
        *,
        description: str,
        diff: str | None = None,
        blocks: Sequence[tuple[str, str] | dict[str, str]] | None = None,
        source: str | None = None,
        base_revision: str | None = None,
        request_id: str | None = None,
    ) -> ProposeEditResult:
        """Propose a new train.py: give exactly one of a unified `diff`, SEARCH/REPLACE
        `blocks` ((search, replace) pairs or {"search", "replace"} dicts) or the whole
        new `source`. The edit is made on `base_revision` (default: the head) and
        rebased onto the head; a rejection is an INVALID_ARGUMENT error whose details
        say which hunk or block did not match, or where the syntax error is."""
        search_replace: Any = UNSET
        if blocks is not None:
            search_replace = [
                SearchReplaceBlock(search=b["search"], replace=b["replace"])
                if isinstance(b, dict)
                else SearchReplaceBlock(search=b[0], replace=b[1])
                for b in blocks
            ]
        body = ProposeEditRequest(
            description=description,
            unified_diff=_opt(diff),
            search_replace=search_replace,
            full_source=_opt(source),
            base_revision=_opt(base_revision),
            request_id=_opt(request_id),
        )
        return self._call(propose_edit, track, body=body)  # type: ignore[no-any-return]

    def get_revision(self, revision: str) -> RevisionView:
        """A revision: its source, diff to its parent and to the baseline, lineage, runs."""
        return self._call(get_revision, revision)  # type: ignore[no-any-return]

    def list_revisions(
        self,
        track: str,
        *,
        author_agent_id: str | None = None,
        page_size: int | None = None,
        page_token: str = "",
    ) -> ListRevisionsResponse:
        return self._call(  # type: ignore[no-any-return]
            list_revisions,
            track,
            author_agent_id=_opt(author_agent_id),
            page_size=_opt(page_size),
            page_token=page_token,
        )

    def list_proposals(
        self,
        track: str,
        *,
        author_agent_id: str | None = None,
        page_size: int | None = None,
        page_token: str = "",
    ) -> ListProposalsResponse:
        """Every edit proposed on a track, accepted or refused (with the reason), newest first."""
        return self._call(  # type: ignore[no-any-return]
            list_proposals,
            track,
            author_agent_id=_opt(author_agent_id),
            page_size=_opt(page_size),
            page_token=page_token,
        )

    # --- harnesses and agents (admin) ---------------------------------------------

    def create_harness(
        self,
        *,
        path: str | None = None,
        demo: bool = False,
        description: str = "",
        request_id: str | None = None,
    ) -> Harness:
        """Register a prepared harness directory (`path`, on the server) or the demo one (admin)."""
        body = CreateHarnessRequest(
            path=_opt(path), demo=demo, description=description, request_id=_opt(request_id)
        )
        return self._call(create_harness, body=body)  # type: ignore[no-any-return]

    def get_harness(self, harness: str) -> Harness:
        return self._call(get_harness, harness)  # type: ignore[no-any-return]

    def list_harnesses(
        self, *, page_size: int | None = None, page_token: str = ""
    ) -> ListHarnessesResponse:
        return self._call(  # type: ignore[no-any-return]
            list_harnesses, page_size=_opt(page_size), page_token=page_token
        )

    def create_agent(self, name: str, *, role: str = "agent", **fields: Any) -> CreatedAgent:
        """Create a caller and its API key (admin); the key is in the answer, once."""
        body = CreateAgentRequest.from_dict({"name": name, "role": role, **fields})
        return self._call(create_agent, body=body)  # type: ignore[no-any-return]

    def get_agent(self, agent: str) -> Agent:
        return self._call(get_agent, agent)  # type: ignore[no-any-return]

    # --- runs ---------------------------------------------------------------------

    def launch_run(
        self,
        track: str,
        revision: str | None = None,
        *,
        seed: int | None = None,
        request_id: str | None = None,
    ) -> Run:
        """Queue a training run of `revision` (default: the track head)."""
        body = LaunchRunRequest(
            track_id=track,
            revision_id=_opt(revision),
            seed=_opt(seed),
            request_id=_opt(request_id),
        )
        return self._call(launch_run, body=body)  # type: ignore[no-any-return]

    def get_run(self, run: str) -> Run:
        return self._call(get_run, run)  # type: ignore[no-any-return]

    def list_runs(
        self,
        track: str,
        *,
        state: RunState | str | None = None,
        page_size: int | None = None,
        page_token: str = "",
    ) -> ListRunsResponse:
        return self._call(  # type: ignore[no-any-return]
            list_runs,
            track,
            state=RunState(state) if state is not None else UNSET,
            page_size=_opt(page_size),
            page_token=page_token,
        )

    def cancel_run(self, run: str) -> Run:
        return self._call(cancel_run, run)  # type: ignore[no-any-return]

    def get_metrics(
        self,
        run: str,
        *,
        since_step: int | None = None,
        names: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> MetricSeries:
        """One page of a run's metric points (continue from `next_since_step`)."""
        return self._call(  # type: ignore[no-any-return]
            get_metrics,
            run,
            since_step=_opt(since_step),
            names=list(names) if names else UNSET,
            limit=_opt(limit),
        )

    def metrics(
        self, run: str, *, names: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int, float]]]:
        """Every metric point of a run, by name: {"loss": [(step, value), ...], ...}."""
        series: dict[str, list[tuple[int, float]]] = {}
        since_step: int | None = None
        while True:
            page = self.get_metrics(run, since_step=since_step, names=names)
            for point in page.points:
                series.setdefault(point.name, []).append((point.step, point.value))
            if page.next_since_step is None:
                return series
            since_step = page.next_since_step

    def get_artifact(self, run: str, name: str) -> bytes:
        """A file a run produced (e.g. its `log` or `checkpoint`), as bytes."""
        artifact: Any = self._call(get_artifact, run, name)
        return artifact.payload.read() if isinstance(artifact, File) else bytes(artifact or b"")

    def get_run_logs(self, run: str, *, tail_bytes: int | None = None) -> RunLogs:
        return self._call(get_run_logs, run, tail_bytes=_opt(tail_bytes))  # type: ignore[no-any-return]

    def watch_run(self, run: str, *, after_seq: int = 0) -> Iterator[RunEvent]:
        """The run's events as they happen (WatchRun over server-sent events): every
        recorded event after `after_seq`, then new ones; ends after the terminal state."""
        return self._stream_events(run, after_seq=after_seq, stop_at=None)

    def _stream_events(
        self,
        run: str,
        *,
        after_seq: int,
        stop_at: float | None,
        read_timeout_s: float | None = None,
    ) -> Generator[RunEvent, None, None]:
        """WatchRun; stops early (without error) once `time.monotonic()` passes `stop_at`."""
        http = self.api.get_httpx_client()
        timeout = (
            httpx.Timeout(http.timeout.connect, read=read_timeout_s)
            if read_timeout_s is not None
            else http.timeout
        )
        with http.stream(
            "GET",
            f"/v1/runs/{quote(run, safe='')}/events",
            params={"after_seq": after_seq},
            timeout=timeout,
        ) as response:
            for event in run_events(response):
                yield event
                if stop_at is not None and time.monotonic() >= stop_at:
                    return

    def wait_for_run(
        self, run: str, timeout_s: float = 600.0, *, poll_s: float = 1.0, follow_events: bool = True
    ) -> Run:
        """Block until the run is SUCCEEDED, FAILED or CANCELLED and return it.

        Follows the WatchRun event stream (reconnecting after a break) while at
        least one keep-alive interval is left, then polls GetRun, so it returns
        within `timeout_s` (plus one request). Raises `RunWaitTimeout` (a
        TimeoutError; `.resource` is the Run) when the run is still going.
        """
        deadline = time.monotonic() + timeout_s
        latest = self.get_run(run)
        if follow_events and latest.state not in TERMINAL_RUN_STATES:
            latest = self._follow_run_events(run, deadline) or latest
        while latest.state not in TERMINAL_RUN_STATES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunWaitTimeout(
                    f"run {run} is still {latest.state} after {timeout_s:g} s", latest
                )
            time.sleep(min(poll_s, remaining))
            latest = self.get_run(run)
        return latest

    def _follow_run_events(self, run: str, deadline: float) -> Run | None:
        """The terminal Run from the event stream, or the latest Run seen (or None)
        once too little time is left for another keep-alive or the stream keeps failing."""
        stop_at = deadline - SSE_QUIET_S
        after_seq, failures, latest = 0, 0, None
        while time.monotonic() < stop_at and failures < MAX_STREAM_FAILURES:
            events = self._stream_events(
                run, after_seq=after_seq, stop_at=stop_at, read_timeout_s=SSE_QUIET_S
            )
            try:
                for event in events:
                    after_seq = max(after_seq, event.seq)
                    if event.type == "state":
                        latest = Run.from_dict(event.data)
                        if latest.state in TERMINAL_RUN_STATES:
                            return latest
                # A stream ends by itself only after the terminal state: this one was cut.
                failures += 1
            except (httpx.TransportError, ValueError, KeyError, TypeError):
                failures += 1  # a dropped connection or a garbled event: resume after_seq
            finally:
                events.close()  # closes the HTTP stream now, not when garbage-collected
        return latest

    def launch_and_wait(
        self,
        track: str,
        revision: str | None = None,
        timeout_s: float = 600.0,
        *,
        seed: int | None = None,
        request_id: str | None = None,
    ) -> Run:
        """LaunchRun, then wait_for_run: the finished Run (check `.state` and `.summary`)."""
        launched = self.launch_run(track, revision, seed=seed, request_id=request_id)
        return self.wait_for_run(launched.id, timeout_s)

    # --- evaluations --------------------------------------------------------------

    def evaluate(
        self,
        run: str,
        *,
        replicates: int | None = None,
        reference_run_id: str | None = None,
        request_id: str | None = None,
        max_pairs: int | None = None,
    ) -> Evaluation:
        """Judge a run against the track head in pairs (same seed each side), `replicates`
        pairs a round up to `max_pairs`; the evaluation is PENDING while pairs train (see
        wait_for_evaluation)."""
        body = EvaluateRequest(
            replicates=_opt(replicates),
            reference_run_id=_opt(reference_run_id),
            request_id=_opt(request_id),
            max_pairs=_opt(max_pairs),
        )
        return self._call(evaluate, run, body=body)  # type: ignore[no-any-return]

    def get_evaluation(self, run: str, evaluation: str) -> Evaluation:
        return self._call(get_evaluation, run, evaluation)  # type: ignore[no-any-return]

    def wait_for_evaluation(
        self, run: str, evaluation: str, timeout_s: float = 1800.0, *, poll_s: float = 2.0
    ) -> Evaluation:
        """Block until the evaluation is DONE or FAILED and return it; `RunWaitTimeout`
        (`.resource` is the Evaluation) when it is still PENDING after `timeout_s`.

        Waits on the runs of its pairs (their event streams, see wait_for_run) rather
        than polling, and looks at the evaluation again after each round: a sequential
        evaluation dispatches its next round only when the last one has finished.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            current = self.get_evaluation(run, evaluation)
            if current.state != EvaluationState.PENDING:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunWaitTimeout(
                    f"evaluation {evaluation} is still PENDING after {timeout_s:g} s", current
                )
            pair_runs = [
                run_id
                for pair in (current.pairs or [])
                for run_id in (pair.candidate_run_id, pair.reference_run_id)
            ]
            if not pair_runs:
                time.sleep(min(poll_s, remaining))
                continue
            for run_id in pair_runs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    self.wait_for_run(run_id, remaining, poll_s=min(poll_s, 1.0))
                except RunWaitTimeout:
                    break  # the evaluation is read once more, then the timeout is raised
