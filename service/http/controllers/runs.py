"""Runs: launch, read, cancel, watch live, metrics, logs, artifacts, evaluations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio.to_thread
import msgspec
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, HeaderParameter, PathParameter, QueryParameter
from litestar.response import Redirect, ServerSentEvent, Stream
from litestar.response.sse import ServerSentEventMessage

from service.domain.errors import InvalidArgument
from service.domain.models import (
    EvaluateRequest,
    Evaluation,
    LaunchRunRequest,
    MetricSeries,
    Run,
    RunEvent,
    RunLogs,
)
from service.http.controllers import SECURITY, Caller, CoreDep
from service.http.schemas import LAUNCHED_ANSWER, METRICS_ANSWER, RUN_ANSWER, errors

RUN = PathParameter(description="Run id, as returned by LaunchRun or ListRuns.")
log = structlog.get_logger("loopy.http")
KEEPALIVE_S = 15.0  # SSE comment interval: keeps proxies from closing an idle stream


class RunController(Controller):
    path = "/v1/runs"
    tags = ["runs"]
    security = SECURITY

    @post(
        "/",
        operation_id="LaunchRun",
        summary="Launch a training run",
        sync_to_thread=True,
        responses={**LAUNCHED_ANSWER, **errors(400, 401, 403, 404, 429)},
    )
    def launch_run(
        self,
        core: CoreDep,
        principal: Caller,
        data: Annotated[
            LaunchRunRequest,
            Body(
                examples=[
                    Example(
                        summary="Train a proposed revision once",
                        value={
                            "track_id": "baseline-cpu",
                            "revision_id": "9c1e0f...",
                            "request_id": "agent7-run-42",
                        },
                    )
                ]
            ),
        ],
    ) -> Run:
        """Queue one training of a revision (default: the track head) with one seed
        (default: chosen by the service) under the track's harness and time budget.
        The run starts QUEUED; follow it with WatchRun (SSE) or GetRun. Idempotent by
        `request_id`: a retry returns the same run. 429 with `Retry-After` when you
        have too many queued runs or no compute seconds left."""
        return core.launch_run(principal, data)

    @get(
        "/{run:str}",
        operation_id="GetRun",
        summary="Get a run",
        sync_to_thread=True,
        responses={**RUN_ANSWER, **errors(401, 403, 404)},
    )
    def get_run(self, core: CoreDep, principal: Caller, run: Annotated[str, RUN]) -> Run:
        """A run's state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED), its failure
        reason if it failed, and when finished its summary: `val_bpb` (the primary
        metric, lower is better), training seconds, tokens, steps, memory and the
        overhead breakdown."""
        return core.get_run(principal, run)

    @post(
        "/{run:str}/cancel",
        operation_id="CancelRun",
        summary="Cancel a run",
        status_code=200,
        sync_to_thread=True,
        responses=errors(401, 403, 404, 412),
    )
    def cancel_run(self, core: CoreDep, principal: Caller, run: Annotated[str, RUN]) -> Run:
        """Cancel a QUEUED or RUNNING run (yours, or any as admin); the worker kills
        its process tree. 412 when the run has already finished."""
        return core.cancel_run(principal, run)

    @get(
        "/{run:str}/events",
        operation_id="WatchRun",
        summary="Watch a run live (server-sent events)",
        media_type="text/event-stream",
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type="text/event-stream",
                description=(
                    "A text/event-stream. Each event has `id: <seq>`, `event: state|metrics|log` "
                    'and `data: <json>` (state: the Run; metrics: {"points": [...]}; log: '
                    '{"text": ...}). The stream ends after the run\'s terminal state event.'
                ),
                generate_examples=False,
            ),
            **errors(400, 401, 403, 404),
        },
    )
    async def watch_run(
        self,
        request: Request[Any, Any, Any],
        core: CoreDep,
        principal: Caller,
        run: Annotated[str, RUN],
        after_seq: Annotated[
            int | None,
            QueryParameter(
                name="after_seq",
                ge=0,
                required=False,
                description="Only events with a larger seq (resume); the `Last-Event-ID` header does the same.",
            ),
        ] = None,
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID",
                required=False,
                description="The id of the last event you received; the stream resumes after it.",
            ),
        ] = None,
    ) -> ServerSentEvent:
        """Stream the run's events as they happen: state changes, metric points and
        log chunks, starting with everything already recorded. Reconnect with the
        `Last-Event-ID` header (browsers and SSE clients do this by themselves) or
        `?after_seq=` to resume without gaps or repeats. Comment lines are sent
        every few seconds to keep the connection alive."""
        resume_after = _resume_point(after_seq, last_event_id)
        # Fail before the stream starts (404/403 as problem JSON, not a broken stream).
        await anyio.to_thread.run_sync(core.get_run, principal, run)
        events = core.watch_run(principal, run, after_seq=resume_after)
        return ServerSentEvent(_sse_messages(events), headers={"Cache-Control": "no-cache"})

    @get(
        "/{run:str}/metrics",
        operation_id="GetMetrics",
        summary="Fetch a run's metric points",
        sync_to_thread=True,
        responses={**METRICS_ANSWER, **errors(400, 401, 403, 404)},
    )
    def get_metrics(
        self,
        core: CoreDep,
        principal: Caller,
        run: Annotated[str, RUN],
        since_step: Annotated[
            int | None,
            QueryParameter(
                name="since_step",
                ge=0,
                required=False,
                description="Only points with step >= this (pass the previous `next_since_step` to continue).",
            ),
        ] = None,
        names: Annotated[
            list[str] | None,
            QueryParameter(
                name="names",
                required=False,
                description="Only these metrics (repeat the parameter or separate by commas), e.g. `loss,val_bpb`.",
            ),
        ] = None,
        limit: Annotated[
            int | None,
            QueryParameter(
                name="limit", ge=1, required=False, description="At most this many points."
            ),
        ] = None,
    ) -> MetricSeries:
        """The run's metric time series (`loss`, `lr`, `tokens_per_s`, `val_bpb`, ...),
        ordered by step. Poll with `since_step=<next_since_step>` to get only new
        points; `next_since_step` is null once everything recorded so far was returned."""
        wanted = [n for item in names for n in item.split(",") if n] if names else None
        return core.get_metrics(principal, run, since_step, wanted or None, limit)

    @get(
        "/{run:str}/logs",
        operation_id="GetRunLogs",
        summary="Read a run's output",
        sync_to_thread=True,
        responses=errors(400, 401, 403, 404),
    )
    def get_run_logs(
        self,
        core: CoreDep,
        principal: Caller,
        run: Annotated[str, RUN],
        tail_bytes: Annotated[
            int | None,
            QueryParameter(
                name="tail_bytes", ge=1, required=False, description="Only the last N bytes."
            ),
        ] = None,
    ) -> RunLogs:
        """The captured stdout and stderr of the training process (capped in size;
        `truncated` says when). Read this when a run FAILED with CRASH or CONTRACT."""
        return core.get_run_logs(principal, run, tail_bytes)

    @get(
        "/{run:str}/artifacts/{name:str}",
        operation_id="GetArtifact",
        summary="Download a run artifact",
        responses={
            200: ResponseSpec(
                data_container=bytes,
                media_type="application/octet-stream",
                description="The artifact's bytes; `X-Content-SHA256` carries its sha256.",
                generate_examples=False,
            ),
            302: ResponseSpec(
                data_container=None,
                description="Redirect to a presigned download URL (object stores).",
                generate_examples=False,
            ),
            **errors(401, 403, 404),
        },
    )
    async def get_artifact(
        self,
        core: CoreDep,
        principal: Caller,
        run: Annotated[str, RUN],
        name: Annotated[
            str, PathParameter(description="`source` (train.py), `log` or `checkpoint`.")
        ],
    ) -> Response[Any]:
        """Download an artifact of a run: `source` (the train.py it ran), `log` or
        `checkpoint`. Object stores answer with a 302 to a presigned URL; otherwise
        the bytes stream from here with their sha256 in `X-Content-SHA256`."""
        url = await anyio.to_thread.run_sync(core.get_artifact_url, principal, run, name)
        if url:
            return Redirect(path=url, status_code=302)
        chunks, size, sha256 = await anyio.to_thread.run_sync(
            core.open_artifact, principal, run, name
        )
        return Stream(
            chunks,
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(size),
                "X-Content-SHA256": sha256,
                "Content-Disposition": f'attachment; filename="{run}-{name}"',
            },
        )

    @post(
        "/{run:str}/evaluations",
        operation_id="Evaluate",
        summary="Evaluate a run against the head (keep or discard?)",
        sync_to_thread=True,
        responses=errors(400, 401, 403, 404, 412, 429),
    )
    def evaluate(
        self,
        core: CoreDep,
        principal: Caller,
        run: Annotated[str, RUN],
        data: Annotated[
            EvaluateRequest,
            Body(
                examples=[
                    Example(summary="Against the head, policy defaults", value={}),
                    Example(
                        summary="Three pairs a round, at most twelve",
                        value={"replicates": 3, "max_pairs": 12, "request_id": "agent7-eval-42"},
                    ),
                ]
            ),
        ],
    ) -> Evaluation:
        """A decision-grade judgement of a run against a reference (default: the track
        head). Runs *pairs*: candidate and reference with the same seed, dispatched
        together, `replicates` pairs a round, until an anytime-valid e-value is
        decisive or `max_pairs` is reached; PENDING meanwhile (the SDK's
        `wait_for_evaluation` waits for you). When DONE it has the pairs, the mean
        paired gain (`delta`, positive = the candidate is better) with its interval,
        the e-value and the threshold from the track's error budget (LORD++), both
        sides' machine speeds and a verdict: KEEP (then PromoteRun, unless the policy
        auto-promotes), DISCARD, INCONCLUSIVE, CONFOUNDED (the sides ran at different
        machine speeds: evaluate later) or EQUIVALENT (same code once comments and
        formatting are dropped; answered at once without a run). Send `{}` for the
        defaults. Idempotent by `request_id`."""
        return core.evaluate(principal, run, data)

    @get(
        "/{run:str}/evaluations/{evaluation:str}",
        operation_id="GetEvaluation",
        summary="Get an evaluation",
        sync_to_thread=True,
        responses=errors(401, 403, 404),
    )
    def get_evaluation(
        self,
        core: CoreDep,
        principal: Caller,
        run: Annotated[str, RUN],
        evaluation: Annotated[str, PathParameter(description="Evaluation id from Evaluate.")],
    ) -> Evaluation:
        """An evaluation's state (PENDING, DONE, FAILED), the pairs so far, `reason`
        and, when DONE, its statistics and verdict (KEEP, DISCARD, INCONCLUSIVE,
        CONFOUNDED or EQUIVALENT)."""
        return core.get_evaluation(principal, run, evaluation)


def _resume_point(after_seq: int | None, last_event_id: str | None) -> int:
    """The larger of `?after_seq=` and `Last-Event-ID` (a reconnecting client sends the latter)."""
    resume = after_seq or 0
    if last_event_id:
        try:
            header_seq = int(last_event_id.strip())
        except ValueError:
            raise InvalidArgument(
                "Last-Event-ID must be the integer id of an event of this run",
                details={"field": "Last-Event-ID", "value": last_event_id[:64]},
            ) from None
        if header_seq < 0:
            raise InvalidArgument(
                "Last-Event-ID must not be negative", details={"field": "Last-Event-ID"}
            )
        resume = max(resume, header_seq)
    return resume


async def _sse_messages(events: AsyncIterator[RunEvent]) -> AsyncIterator[ServerSentEventMessage]:
    """Events as SSE messages, with a keep-alive comment whenever the run is quiet.

    The domain's iterator is drained by its own task into a queue, so a quiet
    period never cancels it mid-poll.
    """
    queue: asyncio.Queue[RunEvent | BaseException | None] = asyncio.Queue(maxsize=256)

    async def pump() -> None:
        try:
            async for event in events:
                await queue.put(event)
            await queue.put(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # surfaced to the consumer, which ends the stream
            await queue.put(exc)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                # Headers are gone: the only honest signal left is ending the stream.
                log.error("run.watch_failed", exc_info=item)
                return
            yield ServerSentEventMessage(
                id=item.seq,
                event=item.type.value,
                data=msgspec.json.encode(item.data).decode(),
            )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
