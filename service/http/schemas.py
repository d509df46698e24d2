"""Transport-local shapes: list responses with concrete item types (so the
OpenAPI document names them), the health answers, and the documented error
responses every operation shares. Request bodies are the domain's own structs.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from service.domain.models import Harness, Page, Proposal, Revision, Run, Track
from service.http.problems import PROBLEM_MEDIA_TYPE, Problem


class ListTracksResponse(msgspec.Struct, kw_only=True):
    tracks: list[Track]
    next_page_token: str  # pass as page_token for the next page; "" on the last page


class ListRunsResponse(msgspec.Struct, kw_only=True):
    runs: list[Run]
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
