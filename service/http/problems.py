"""RFC 9457 problem JSON for every error the HTTP transport returns.

One handler turns any exception into a problem: a `LoopyError` by the one
table in `service.domain.errors`, Litestar's own HTTP errors (validation,
unknown route, wrong method, oversize body) by their status, anything else into
a 500 that reveals nothing and is logged with its traceback.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from msgspec import Meta

from service.domain.errors import (
    DEPENDENCY_RETRY_AFTER_S,
    ERROR_TABLE,
    PROBLEM_TYPE_BASE,
    ErrorCode,
    InvalidArgument,
    LoopyError,
    as_unavailable,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger("loopy.http")


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document.

    Switch on `code` (or `type`); `details` carries machine-readable evidence:
    which field was wrong, which hunk did not apply, the current head of a
    track after a lost promotion, how long to wait after a quota refusal.
    """

    type: Annotated[str, Meta(description="A stable URI per error code.")]
    title: Annotated[str, Meta(description="Short, the same for every error of this code.")]
    status: Annotated[int, Meta(description="The HTTP status, repeated.")]
    detail: Annotated[str, Meta(description="What went wrong this time, in words.")]
    instance: Annotated[str, Meta(description="The request path.")]
    code: Annotated[
        str,
        Meta(
            description="The Loopy error code to switch on: INVALID_ARGUMENT, NOT_FOUND, "
            "ALREADY_EXISTS, CONFLICT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, "
            "UNAUTHENTICATED, PERMISSION_DENIED, PAYLOAD_TOO_LARGE, METHOD_NOT_ALLOWED, "
            "UNAVAILABLE, INTERNAL."
        ),
    ]
    details: Annotated[
        dict[str, Any],
        Meta(
            description="Machine-readable evidence: `field` for a bad input, the hunk or "
            "block that did not apply, `current_head` after a lost promotion, the quota hit."
        ),
    ] = msgspec.field(default_factory=dict)
    retry_after_s: Annotated[
        float | None,
        Meta(description="On 429 and 503: wait this many seconds before retrying."),
    ] = None


# HTTP errors that come from the framework rather than the domain, by status.
_FRAMEWORK_CODES: dict[int, tuple[str, str]] = {
    400: (ErrorCode.INVALID_ARGUMENT.value, "Invalid argument"),
    401: (ErrorCode.UNAUTHENTICATED.value, "Unauthenticated"),
    403: (ErrorCode.PERMISSION_DENIED.value, "Permission denied"),
    404: (ErrorCode.NOT_FOUND.value, "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    413: (ErrorCode.PAYLOAD_TOO_LARGE.value, "Payload too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type"),
    429: (ErrorCode.RESOURCE_EXHAUSTED.value, "Quota exceeded"),
    503: (ErrorCode.UNAVAILABLE.value, "Unavailable"),
}


def _problem_type(code: str) -> str:
    return PROBLEM_TYPE_BASE + code.lower().replace("_", "-")


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers or {},
    )


def loopy_error_problem(exc: LoopyError, instance: str) -> tuple[Problem, dict[str, str]]:
    headers: dict[str, str] = {}
    if exc.code in (ErrorCode.RESOURCE_EXHAUSTED, ErrorCode.UNAVAILABLE):
        # Always give retry advice on 429 and 503, even when the domain had no estimate.
        default_s = 1.0 if exc.code is ErrorCode.RESOURCE_EXHAUSTED else DEPENDENCY_RETRY_AFTER_S
        wait_s = exc.retry_after_s if exc.retry_after_s is not None else default_s
        headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
    if exc.code is ErrorCode.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = 'Bearer realm="loopy"'
    problem = Problem(
        type=exc.problem_type,
        title=exc.title,
        status=exc.http_status,
        detail=exc.message,
        instance=instance,
        code=exc.code.value,
        details=_jsonable(exc.details),
        retry_after_s=exc.retry_after_s,
    )
    return problem, headers


def _validation_problem(exc: ValidationException, instance: str) -> Problem:
    """Litestar's validation errors name the field; keep that, drop the framework's words."""
    errors: list[dict[str, Any]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            message = str(item.get("message", ""))
            source = item.get("source", "")
            errors.append(
                {
                    "field": _field_name(str(item.get("key", "")), message),
                    "source": str(getattr(source, "value", source)),
                    "message": message,
                }
            )
    if errors:
        first = errors[0]
        where = f"{first['source']} field `{first['field']}`" if first["field"] else "request"
        detail = f"Invalid {where}: {first['message']}"
    else:
        detail = exc.detail or "Invalid request"
    details: dict[str, Any] = {"errors": errors}
    if errors and errors[0]["field"]:
        details["field"] = errors[0]["field"]
    code = ErrorCode.INVALID_ARGUMENT.value
    return Problem(
        type=_problem_type(code),
        title=ERROR_TABLE[ErrorCode.INVALID_ARGUMENT][2],
        status=400,
        detail=detail,
        instance=instance,
        code=code,
        details=details,
    )


_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")  # forbid_unknown_fields
_AT_PATH = re.compile(r"- at `\$\.?([^`]*)`")


def _field_name(key: str, message: str) -> str:
    """The field a msgspec message is about, as a dotted path (`policy.k_sigma`).

    Litestar reports body errors under the parameter name `data`, or under the
    path of the object at fault (`search_replace[0]`); the message itself says
    where (`- at `$.policy.k_sigma``) and which field was missing or unknown.
    """
    nested = bool(key) and key != "data"
    path = key if nested else ""
    if not nested and (at := _AT_PATH.search(message)):
        path = at.group(1)
    path = path.replace("[", ".").replace("]", "")
    if unknown := _UNKNOWN_FIELD.search(message):
        return f"{path}.{unknown.group(1)}" if path else unknown.group(1)
    if nested:
        return key
    if missing := _MISSING_FIELD.search(message):
        return f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or key


def _http_exception_problem(exc: HTTPException, instance: str) -> Problem:
    status = exc.status_code
    code, title = _FRAMEWORK_CODES.get(
        status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT", "Error")
    )
    detail = exc.detail or title
    details: dict[str, Any] = {}
    if isinstance(exc.__cause__, SerializationException):
        detail = f"Malformed JSON body: {exc.detail}"
        details["field"] = "body"
    elif status == 413:
        detail = "Request body is larger than the server accepts"
    elif status == 404 and detail == "Not Found":
        detail = f"No endpoint at {instance}; see /schema/openapi.json"
    elif status >= 500:
        detail = "Internal error"
    return Problem(
        type=_problem_type(code),
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        details=details,
    )


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The one exception handler of the HTTP transport."""
    instance = request.url.path
    headers: dict[str, str] = {}
    exc = as_unavailable(exc) or exc  # a dependency that did not answer: 503, not 500
    if isinstance(exc, RecursionError):  # input nested past what a decoder follows
        exc = InvalidArgument("the request is nested too deeply", details={"field": "body"})
    if isinstance(exc, LoopyError):
        problem, headers = loopy_error_problem(exc, instance)
        if exc.code is ErrorCode.UNAVAILABLE:  # an outage: one line per request, no trace
            log.warning("request.unavailable", path=instance, detail=exc.message)
        elif problem.status >= 500:
            log.error("request.failed", path=instance, code=problem.code, exc_info=exc)
    elif isinstance(exc, ValidationException):
        problem = _validation_problem(exc, instance)
    elif isinstance(exc, HTTPException):
        problem = _http_exception_problem(exc, instance)
        if exc.headers:
            headers.update(exc.headers)
        if problem.status >= 500:
            log.error("request.failed", path=instance, exc_info=exc)
    else:
        log.error("request.crashed", path=instance, method=request.method, exc_info=exc)
        code = ErrorCode.INTERNAL.value
        problem = Problem(
            type=_problem_type(code),
            title="Internal error",
            status=500,
            detail="The server failed to handle this request; it has been logged.",
            instance=instance,
            code=code,
        )
    return problem_response(problem, headers)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """Error details are meant to be JSON already; never let one break the error path."""
    try:
        return msgspec.json.decode(msgspec.json.encode(value))  # type: ignore[no-any-return]
    except (TypeError, msgspec.EncodeError):
        return {key: str(item) for key, item in value.items()}
