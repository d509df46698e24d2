"""How Loopy errors travel over gRPC.

Convention (the same for every RPC):

- The status code is `ERROR_TABLE[error.code][1]` (service/domain/errors.py),
  the one table HTTP uses too: NOT_FOUND, INVALID_ARGUMENT, ABORTED (a lost
  compare-and-swap such as a stale promotion), FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED, UNAUTHENTICATED, PERMISSION_DENIED, ...
- The status details string is the error's message, in words.
- Trailing metadata `loopy-error-bin` is the machine-readable error as UTF-8
  JSON with the fields of the HTTP problem document:
  `{"code": "PAYLOAD_TOO_LARGE", "type": "https://loopy.dev/problems/...",
  "title": ..., "detail": ..., "details": {...}, "retry_after_s": 2.0|null}`.
  `code` is the domain code, finer than the gRPC status (PAYLOAD_TOO_LARGE and
  INVALID_ARGUMENT share INVALID_ARGUMENT on the wire).
- A quota refusal (RESOURCE_EXHAUSTED) and a dependency that is down
  (UNAVAILABLE) also carry trailing metadata `retry-after-s`: seconds to wait
  before retrying, as a decimal string.
- A request message larger than `max_request_bytes` is PAYLOAD_TOO_LARGE
  (INVALID_ARGUMENT). Past the transport's hard cap (twice that, plus 64 KiB)
  gRPC itself refuses the bytes with RESOURCE_EXHAUSTED before Loopy sees them.
- Anything unexpected is INTERNAL with a message that reveals nothing; the
  traceback goes to the server log.

`error_from_rpc` reads the convention back on the client side.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grpc
import structlog

from service.domain.errors import ERROR_TABLE, ErrorCode, LoopyError, as_unavailable

ERROR_METADATA_KEY = "loopy-error-bin"
RETRY_AFTER_METADATA_KEY = "retry-after-s"

log = structlog.get_logger("loopy.grpc")


def status_code(error: LoopyError) -> grpc.StatusCode:
    return grpc.StatusCode[ERROR_TABLE[error.code][1]]


def error_document(error: LoopyError) -> dict[str, Any]:
    return {
        "code": error.code.value,
        "type": error.problem_type,
        "title": error.title,
        "detail": error.message,
        "details": error.details,
        "retry_after_s": error.retry_after_s,
    }


def trailing_metadata(error: LoopyError) -> tuple[tuple[str, str | bytes], ...]:
    document = json.dumps(error_document(error), default=str).encode()
    metadata: list[tuple[str, str | bytes]] = [(ERROR_METADATA_KEY, document)]
    if error.retry_after_s is not None:
        metadata.append((RETRY_AFTER_METADATA_KEY, f"{error.retry_after_s:g}"))
    return tuple(metadata)


async def abort_with(context: grpc.aio.ServicerContext, error: LoopyError) -> None:
    """Ends the RPC with the error's status, message and trailers (raises)."""
    await context.abort(status_code(error), error.message, trailing_metadata(error))


async def abort_unexpected(
    context: grpc.aio.ServicerContext, method: str, exc: BaseException
) -> None:
    """A dependency that did not answer is UNAVAILABLE (with retry-after-s); anything
    else INTERNAL."""
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        log.warning("rpc.unavailable", method=method, error=repr(exc))
        await abort_with(context, unavailable)
    await abort_internal(context, method)


async def abort_internal(context: grpc.aio.ServicerContext, method: str) -> None:
    log.exception("rpc.failed", method=method)
    internal = LoopyError("internal error")  # LoopyError's own code is INTERNAL
    await context.abort(grpc.StatusCode.INTERNAL, internal.message, trailing_metadata(internal))


class RpcError(Exception):
    """A Loopy error read back from a failed call (client side)."""

    def __init__(self, status: grpc.StatusCode, document: dict[str, Any]) -> None:
        super().__init__(document.get("detail", ""))
        self.status = status
        self.code = ErrorCode(document.get("code", ErrorCode.INTERNAL.value))
        self.detail: str = document.get("detail", "")
        self.details: dict[str, Any] = document.get("details") or {}
        self.retry_after_s: float | None = document.get("retry_after_s")


def error_from_rpc(error: grpc.aio.AioRpcError | grpc.RpcError) -> RpcError:
    """Decode the convention above from a failed call; tolerates errors that did not
    come from Loopy (e.g. gRPC's own RESOURCE_EXHAUSTED for an oversize message)."""
    code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    trailers: Sequence[tuple[str, str | bytes]] = error.trailing_metadata() or ()  # type: ignore[attr-defined]
    for key, value in trailers:
        if key == ERROR_METADATA_KEY:
            raw = value if isinstance(value, bytes) else value.encode()
            return RpcError(code, json.loads(raw))
    fallback = ErrorCode(code.name) if code.name in ErrorCode.__members__ else ErrorCode.INTERNAL
    return RpcError(code, {"code": fallback.value, "detail": error.details()})  # type: ignore[attr-defined]
