"""Transport-local shapes: list responses with concrete item types (so the
OpenAPI document names them), the health answers, and the documented error
responses every operation shares. Request bodies are the domain's own structs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from service.domain.models import (
    Harness,
    HeadChange,
    MetricPoint,
    MetricSeries,
    OverheadBreakdown,
    Page,
    Proposal,
    Revision,
    Run,
    RunPurpose,
    RunState,
    RunSummary,
    Track,
)
from service.http.problems import PROBLEM_MEDIA_TYPE, Problem


class ListTracksResponse(msgspec.Struct, kw_only=True):
    tracks: list[Track]
    next_page_token: str  # pass as page_token for the next page; "" on the last page


class ListRunsResponse(msgspec.Struct, kw_only=True):
    runs: list[Run]
    next_page_token: str


class ListHeadChangesResponse(msgspec.Struct, kw_only=True):
    head_changes: list[HeadChange]
    next_page_token: str


class ListRevisionsResponse(msgspec.Struct, kw_only=True):
    revisions: list[Revision]
    next_page_token: str


class ListProposalsResponse(msgspec.Struct, kw_only=True):
    proposals: list[Proposal]
    next_page_token: str


class ListHarnessesResponse(msgspec.Struct, kw_only=True):
    harnesses: list[Harness]
    next_page_token: str


def page_of(page: Page[Any], cls: type[Any]) -> Any:
    """A domain page as the named list response (`tracks`, `runs`, ... as in the proto)."""
    (items_field, _) = cls.__struct_fields__
    return cls(**{items_field: page.items, "next_page_token": page.next_page_token})


class HealthStatus(msgspec.Struct, kw_only=True):
    status: str  # "ok" or "unavailable"
    checks: dict[str, bool] = msgspec.field(default_factory=dict)
    # per failing (or notable) check, what is wrong and how to fix it; "sandbox" says
    # "none" in the operator's explicit unsafe mode
    details: dict[str, str] = msgspec.field(default_factory=dict)


# --- Documented errors ---------------------------------------------------------

_ERROR_WORDS: dict[int, str] = {
    400: "Invalid argument: a malformed body, a wrong type, a missing field, a bad "
    "page token or a refused edit. `details.field` names the field; for a refused "
    "edit `details` says which hunk or block did not apply, or where the syntax error is.",
    401: "No API key, or an unknown one. Send `Authorization: Bearer <key>`.",
    403: "Your key's role may not do this (an admin-only operation, or another agent's run).",
    404: "No such resource (the id in the path, or an id in the body, does not exist).",
    409: "Conflict: the resource already exists, or the state moved under you "
    "(e.g. the track head changed before your promotion; `details` has the new head).",
    412: "Failed precondition: the resource is not in a state that allows this "
    "(e.g. cancelling a run that already finished).",
    413: "The request body is larger than the server accepts.",
    429: "Over quota (too many queued runs, or compute seconds spent). Wait "
    "`Retry-After` seconds (also `retry_after_s`) and retry.",
}


def _problem_example(status: int) -> Example:
    codes = {
        400: ("INVALID_ARGUMENT", "Invalid argument"),
        401: ("UNAUTHENTICATED", "Unauthenticated"),
        403: ("PERMISSION_DENIED", "Permission denied"),
        404: ("NOT_FOUND", "Not found"),
        409: ("CONFLICT", "Conflict"),
        412: ("FAILED_PRECONDITION", "Failed precondition"),
        413: ("PAYLOAD_TOO_LARGE", "Payload too large"),
        429: ("RESOURCE_EXHAUSTED", "Quota exceeded"),
    }
    code, title = codes[status]
    return Example(
        summary=title,
        value={
            "type": "https://loopy.dev/problems/" + code.lower().replace("_", "-"),
            "title": title,
            "status": status,
            "detail": _ERROR_WORDS[status].split(":")[0].split(".")[0],
            "instance": "/v1/runs/r-123",
            "code": code,
            "details": {},
        },
    )


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for an authenticated operation: 400 and 401 always, plus `statuses`."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_ERROR_WORDS[status],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
            examples=[_problem_example(status)],
        )
        for status in sorted({400, 401, *statuses})
    }


# --- Documented answers ----------------------------------------------------------------
# Built from real domain structs, so an example can never drift from its schema.

_T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _example_run(state: RunState = RunState.SUCCEEDED) -> Run:
    finished = state is RunState.SUCCEEDED
    return Run(
        id="run_01jh2k8v3q9x4m7t6w5y0z1a2b",
        track_id="baseline-cpu",
        revision_id="9c1e0f6d2b5a4c3e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e",
        harness_id="3f9a1c0d2b7e4a61",
        agent_id="agent_01jh2k1r0c7m3n5p8q2s4t6v9w",
        purpose=RunPurpose.EXPERIMENT,
        seed=1234,
        device_class="cpu",
        time_budget_s=300.0,
        state=state,
        failure_reason=None,
        failure_message=None,
        summary=RunSummary(
            val_bpb=1.0412,
            training_seconds=300.2,
            total_seconds=331.8,
            total_tokens=19_660_800,
            num_steps=1200,
            num_params=11_534_336,
            peak_memory_mb=2140.5,
            device_name="cpu",
            sandbox="bubblewrap",
            overhead=OverheadBreakdown(
                queue_wait_seconds=2.1,
                startup_seconds=6.3,
                training_seconds=300.2,
                eval_seconds=18.4,
                upload_seconds=4.8,
            ),
        )
        if finished
        else None,
        worker_id="worker-cpu-0",
        attempt=1,
        create_time=_T0,
        start_time=_T0,
        end_time=_T0 if finished else None,
        heartbeat_time=_T0,
        request_id="agent7-run-42",
    )


def _example_metrics() -> MetricSeries:
    return MetricSeries(
        run_id="run_01jh2k8v3q9x4m7t6w5y0z1a2b",
        points=[
            MetricPoint(step=0, name="loss", value=9.01, wall_seconds=0.0),
            MetricPoint(step=0, name="lr", value=0.0006, wall_seconds=0.0),
            MetricPoint(step=100, name="loss", value=4.87, wall_seconds=25.1),
            MetricPoint(step=100, name="lr", value=0.0006, wall_seconds=25.1),
        ],
        next_since_step=101,
    )


def answer(
    container: type[Any], value: Any, description: str, status: int = 200
) -> dict[int, ResponseSpec]:
    """The success response of an operation, with an example built from a real struct."""
    return {
        status: ResponseSpec(
            data_container=container,
            description=description,
            generate_examples=False,
            # Raw JSON: Litestar drops None from example dicts, which would make the
            # example invalid against its own schema (required nullable fields).
            examples=[Example(summary=description, value=msgspec.Raw(msgspec.json.encode(value)))],
        )
    }


RUN_ANSWER = answer(Run, _example_run(), "The run")
LAUNCHED_ANSWER = answer(
    Run, _example_run(RunState.QUEUED), "The queued run (or the first one, on a retry)", 201
)
METRICS_ANSWER = answer(
    MetricSeries,
    _example_metrics(),
    "Points ordered by (step, name); continue from next_since_step",
)
