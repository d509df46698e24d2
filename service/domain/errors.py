"""The one error hierarchy of Loopy and the one table that maps it to transports.

The domain raises only `LoopyError` subclasses. HTTP and gRPC each register one
handler that reads `ERROR_TABLE`; neither transport invents codes of its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    CONFLICT = "CONFLICT"  # optimistic concurrency lost (stale promotion, racing update)
    FAILED_PRECONDITION = "FAILED_PRECONDITION"  # illegal state transition
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"  # quota
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


# code -> (HTTP status, gRPC status name, problem title)
# gRPC names are strings so the domain never imports grpc; the gRPC layer does
# `grpc.StatusCode[name]`.
ERROR_TABLE: dict[ErrorCode, tuple[int, str, str]] = {
    ErrorCode.INVALID_ARGUMENT: (400, "INVALID_ARGUMENT", "Invalid argument"),
    ErrorCode.NOT_FOUND: (404, "NOT_FOUND", "Not found"),
    ErrorCode.ALREADY_EXISTS: (409, "ALREADY_EXISTS", "Already exists"),
    ErrorCode.CONFLICT: (409, "ABORTED", "Conflict"),
    ErrorCode.FAILED_PRECONDITION: (412, "FAILED_PRECONDITION", "Failed precondition"),
    ErrorCode.RESOURCE_EXHAUSTED: (429, "RESOURCE_EXHAUSTED", "Quota exceeded"),
    ErrorCode.UNAUTHENTICATED: (401, "UNAUTHENTICATED", "Unauthenticated"),
    ErrorCode.PERMISSION_DENIED: (403, "PERMISSION_DENIED", "Permission denied"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "INVALID_ARGUMENT", "Payload too large"),
    ErrorCode.UNAVAILABLE: (503, "UNAVAILABLE", "Unavailable"),
    ErrorCode.INTERNAL: (500, "INTERNAL", "Internal error"),
}

# Problem-type URIs are stable identifiers agents can switch on.
PROBLEM_TYPE_BASE = "https://loopy.dev/problems/"


class LoopyError(Exception):
    """Base of every error the domain raises on purpose.

    `details` is machine-readable (JSON-serialisable) evidence: which field,
    which hunk, the nearest text, the current head, ...
    """

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.retry_after_s = retry_after_s

    @property
    def http_status(self) -> int:
        return ERROR_TABLE[self.code][0]

    @property
    def grpc_status_name(self) -> str:
        return ERROR_TABLE[self.code][1]

    @property
    def title(self) -> str:
        return ERROR_TABLE[self.code][2]

    @property
    def problem_type(self) -> str:
        return PROBLEM_TYPE_BASE + self.code.value.lower().replace("_", "-")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"


class InvalidArgument(LoopyError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFound(LoopyError):
    code = ErrorCode.NOT_FOUND


class AlreadyExists(LoopyError):
    code = ErrorCode.ALREADY_EXISTS


class Conflict(LoopyError):
    code = ErrorCode.CONFLICT


class FailedPrecondition(LoopyError):
    code = ErrorCode.FAILED_PRECONDITION


class QuotaExceeded(LoopyError):
    code = ErrorCode.RESOURCE_EXHAUSTED


class Unauthenticated(LoopyError):
    code = ErrorCode.UNAUTHENTICATED


class PermissionDenied(LoopyError):
    code = ErrorCode.PERMISSION_DENIED


class PayloadTooLarge(LoopyError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class Unavailable(LoopyError):
    code = ErrorCode.UNAVAILABLE


# Seconds a caller should wait after a dependency (database, broker, object store)
# did not answer.
DEPENDENCY_RETRY_AFTER_S = 5.0
_DEPENDENCY_MODULES = frozenset(
    {"sqlalchemy", "psycopg", "psycopg2", "urllib3", "minio", "kombu", "amqp", "redis", "celery"}
)
_DEPENDENCY_ERROR_WORDS = (
    "Connection",
    "Timeout",
    "Operational",
    "Interface",
    "MaxRetry",
    "Protocol",
)


def as_unavailable(exc: BaseException) -> Unavailable | None:
    """The UNAVAILABLE error for an exception that means a dependency did not answer
    (by type; the libraries are never imported here), None for anything else."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, LoopyError):
        return None
    dependency = type(exc).__module__.split(".")[0] in _DEPENDENCY_MODULES and any(
        word in cls.__name__ for cls in type(exc).__mro__ for word in _DEPENDENCY_ERROR_WORDS
    )
    if dependency or isinstance(exc, (ConnectionError, TimeoutError)):
        return Unavailable(
            "a service Loopy depends on is unreachable; retry shortly",
            details={"error": type(exc).__name__},
            retry_after_s=DEPENDENCY_RETRY_AFTER_S,
        )
    return None
