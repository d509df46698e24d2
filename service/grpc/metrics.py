"""gRPC request counts and latency per method into the process's Prometheus registry."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from service.grpc.interceptors import Stream, Unary, _wrap, _WrappingInterceptor
from service.telemetry import Telemetry


def _code_name(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "OK"
    return str(getattr(code, "name", code))


class MetricsInterceptor(_WrappingInterceptor):
    """Outermost: sees the final status of each call, errors mapped or not."""

    def __init__(self, telemetry: Telemetry) -> None:
        super().__init__()
        self._telemetry = telemetry

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        name = method.rsplit("/", 1)[-1]
        requests = self._telemetry.grpc_requests
        latency = self._telemetry.grpc_latency.labels(name)

        def unary(behavior: Unary) -> Unary:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                start = time.perf_counter()
                code = "UNKNOWN"
                try:
                    response = await behavior(request, context)
                    code = _code_name(context)
                    return response
                except BaseException:
                    code = _code_name(context) if context.code() is not None else "UNKNOWN"
                    raise
                finally:
                    latency.observe(time.perf_counter() - start)
                    requests.labels(name, code).inc()

            return wrapped

        def stream(behavior: Stream) -> Stream:
            async def wrapped(
                request: Any, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                start = time.perf_counter()
                code = "UNKNOWN"
                try:
                    async for response in behavior(request, context):
                        yield response
                    code = _code_name(context)
                except BaseException:
                    code = _code_name(context) if context.code() is not None else "CANCELLED"
                    raise
                finally:
                    latency.observe(time.perf_counter() - start)
                    requests.labels(name, code).inc()

            return wrapped

        return _wrap(handler, unary, stream)  # type: ignore[return-value]
