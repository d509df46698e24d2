"""The one exception the Loopy SDK raises for an error answer from the API."""

from __future__ import annotations

import json
from typing import Any

import httpx


class LoopyAPIError(Exception):
    """The API answered with an error (RFC 9457 problem JSON).

    `code` is the stable Loopy error code to switch on (NOT_FOUND, INVALID_ARGUMENT,
    CONFLICT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, UNAUTHENTICATED, ...);
    `details` carries the machine-readable evidence (the field that was wrong, the
    hunk that did not apply, the current head after a lost promotion, ...).
    """

    def __init__(
        self,
        *,
        status: int,
        code: str,
        detail: str,
        title: str = "",
        details: dict[str, Any] | None = None,
        retry_after_s: float | None = None,
        problem: dict[str, Any] | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.details = details or {}
        self.retry_after_s = retry_after_s
        self.problem = problem or {}
        self.method = method
        self.url = url
        super().__init__(f"{status} {code}: {detail}")

    def to_dict(self) -> dict[str, Any]:
        """The problem in a JSON-able form (what the MCP adapter hands to agents)."""
        return {
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "details": self.details,
            **({"retry_after_s": self.retry_after_s} if self.retry_after_s is not None else {}),
        }

    @classmethod
    def from_response(cls, response: httpx.Response) -> LoopyAPIError:
        """Build from an error response; tolerates bodies that are not problem JSON
        (a proxy's HTML page, an empty 502) so the caller always gets this type."""
        request = response.request
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = None
        problem: dict[str, Any] = body if isinstance(body, dict) else {}
        retry_after = problem.get("retry_after_s")
        if retry_after is None:
            retry_after = _retry_after_header(response.headers.get("Retry-After"))
        details = problem.get("details")
        return cls(
            status=int(problem.get("status") or response.status_code),
            code=str(problem.get("code") or _code_for_status(response.status_code)),
            detail=str(
                problem.get("detail")
                or response.text[:500]
                or response.reason_phrase
                or "no detail given"
            ),
            title=str(problem.get("title") or response.reason_phrase or ""),
            details=details if isinstance(details, dict) else {},
            retry_after_s=float(retry_after) if retry_after is not None else None,
            problem=problem,
            method=request.method,
            url=str(request.url),
        )


class RunWaitTimeout(TimeoutError):
    """A run (or evaluation) was still in progress when the wait ran out.
    `.resource` holds its last known state (a `Run` or an `Evaluation`)."""

    def __init__(self, message: str, resource: Any) -> None:
        super().__init__(message)
        self.resource = resource


def _retry_after_header(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: rare, and the problem body carries seconds anyway


def _code_for_status(status: int) -> str:
    """A code for error answers that did not come from Loopy itself (a proxy, a crash)."""
    return {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "CONFLICT",
        412: "FAILED_PRECONDITION",
        413: "PAYLOAD_TOO_LARGE",
        429: "RESOURCE_EXHAUSTED",
        503: "UNAVAILABLE",
    }.get(status, "INTERNAL" if status >= 500 else "UNKNOWN")
