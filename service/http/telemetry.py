"""The HTTP side of the Prometheus metrics: requests and latency per operation.

`Telemetry` (service/telemetry.py) holds the registry all series share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.telemetry import Telemetry

__all__ = ["Telemetry", "http_metrics_middleware"]


def _operation(handler: Any) -> str:
    """A label from a fixed set: the operationId, else the handler's name (static
    files, the schema pages), never the raw path (a scanner would explode the series)."""
    if handler is None:
        return "unmatched"
    operation = getattr(handler, "operation_id", None)
    if isinstance(operation, str) and operation:
        return operation
    name = getattr(handler, "name", None) or getattr(handler, "handler_name", None)
    return str(name or "other")


def http_metrics_middleware(telemetry: Telemetry) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware factory; Litestar runs it after routing, so the handler is known."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def record(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            operation = _operation(scope.get("route_handler"))
            start = time.perf_counter()
            status = 500

            async def send_and_observe(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    telemetry.http_latency.labels(operation).observe(time.perf_counter() - start)
                await send(message)

            try:
                await app(scope, receive, send_and_observe)
            finally:
                telemetry.http_requests.labels(operation, str(status)).inc()

        return record

    return middleware
