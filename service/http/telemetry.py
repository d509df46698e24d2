"""Prometheus metrics of the HTTP transport: requests and latency per operation.

Each app owns its registry (tests build many apps in one process).
"""

from __future__ import annotations

import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "loopy_http_requests",
            "HTTP requests by operation and status code",
            ["operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loopy_http_request_seconds",
            "HTTP request latency by operation (until the response starts)",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware factory; Litestar runs it after routing, so the handler is known."""

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
                    self.latency.labels(operation).observe(time.perf_counter() - start)
                await send(message)

            try:
                await app(scope, receive, send_and_observe)
            finally:
                self.requests.labels(operation, str(status)).inc()

        return record
