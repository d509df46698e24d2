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


def http_metrics_middleware(telemetry: Telemetry) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware factory; Litestar runs it after routing, so the handler is known."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def record(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            handler: Any = scope.get("route_handler")
            operation = getattr(handler, "operation_id", None) or scope.get("path", "?")
            if not isinstance(operation, str):
                operation = getattr(handler, "handler_name", "?")
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
