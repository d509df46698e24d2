"""Request ids: a create retried with the same `request_id` returns the first result.

Creates with a `request_id` are remembered per (agent, kind). A retry returns the first
result, whatever its body (the request id, not the body, names the operation). Runs,
tracks and evaluations reserve their id before anything is created, so a retry never
dispatches a second run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from service.domain.context import Context
from service.domain.errors import InvalidArgument
from service.domain.limits import MAX_REQUEST_ID_CHARS
from service.domain.models import Principal

log = structlog.get_logger(__name__)

T = TypeVar("T")

# How long a call waits for a concurrent call with the same request_id to store its
# result before telling the caller to retry (a proposal is validated in ~1 s).
REQUEST_WAIT_S = 10.0


def check_request_id(request_id: str | None) -> None:
    if request_id is not None and not (0 < len(request_id) <= MAX_REQUEST_ID_CHARS):
        raise InvalidArgument(
            f"request_id must be 1 to {MAX_REQUEST_ID_CHARS} characters",
            details={"field": "request_id", "length": len(request_id)},
        )
    if request_id and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in request_id):
        raise InvalidArgument(
            "request_id must not contain control characters (such as NUL)",
            details={"field": "request_id"},
        )


def await_resource(
    load: Callable[[str], T | None], resource_id: str, wait_s: float = 2.0
) -> T | None:
    """The resource another call reserved, once that call has stored it."""
    deadline = time.monotonic() + wait_s
    while True:
        found = load(resource_id)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def replayed(
    ctx: Context,
    principal: Principal,
    kind: str,
    request_id: str | None,
    load: Callable[[str], T | None],
) -> tuple[T | None, str | None]:
    """(the first result, its reserved id) of an earlier call with this request id.

    A reserved id without a resource means that call died before creating it:
    the caller then creates the resource under the reserved id.
    """
    check_request_id(request_id)
    if not request_id:
        return None, None
    resource_id = ctx.meta.get_request(principal.agent_id, kind, request_id)
    if resource_id is None:
        return None, None
    return await_resource(load, resource_id), resource_id


def reserve(
    ctx: Context,
    principal: Principal,
    kind: str,
    request_id: str | None,
    reserved: str | None,
    fresh_id: str,
    load: Callable[[str], T | None],
) -> tuple[T | None, str]:
    """Claim `request_id` for `fresh_id`; when a concurrent call won, its result.

    `reserved` is what `replayed` found: an id an earlier call claimed and did not
    use (it died); the resource is then created under that id."""
    if reserved is not None:
        return None, reserved
    if not request_id:
        return None, fresh_id
    winner = ctx.meta.put_request(principal.agent_id, kind, request_id, fresh_id)
    if winner == fresh_id:
        return None, fresh_id
    return await_resource(load, winner), winner
