"""Server interceptors: error mapping, authentication, request size.

Each wraps the behaviour of the LoopyService handlers (health and reflection
pass untouched) so the work happens inside the RPC, with its context:

- `ErrorInterceptor` (outermost) turns a `LoopyError` into the status and
  trailers of service/grpc/errors.py, a request that is not a valid message
  into INVALID_ARGUMENT, anything else into INTERNAL.
- `AuthInterceptor` resolves `authorization: Bearer <key>` with the core's
  `Authenticator` (service.domain.auth, shared with HTTP) and hands the
  Principal to the servicer through the `current_principal` context variable.
- `RequestSizeInterceptor` refuses a request message over `max_request_bytes`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from service.domain.errors import InvalidArgument, LoopyError, PayloadTooLarge
from service.domain.models import Principal
from service.domain.service import Loopy
from service.grpc.errors import abort_unexpected, abort_with

SERVICE_NAME = "loopy.v1.LoopyService"
_METHOD_PREFIX = f"/{SERVICE_NAME}/"

current_principal: ContextVar[Principal] = ContextVar("loopy_principal")

Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Stream = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]
Before = Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]


def principal() -> Principal:
    """The caller of the current RPC (set by AuthInterceptor)."""
    return current_principal.get()


def _wrap(
    handler: grpc.RpcMethodHandler | None,
    wrap_unary: Callable[[Unary], Unary],
    wrap_stream: Callable[[Stream], Stream],
    wrap_deserializer: Callable[[Any], Any] = lambda deserializer: deserializer,
) -> grpc.RpcMethodHandler | None:
    if handler is None:
        return None
    deserializer = wrap_deserializer(handler.request_deserializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            wrap_unary(handler.unary_unary),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream(handler.unary_stream),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler  # LoopyService has no client-streaming methods


class _Undecodable:
    """Stands in for a request whose bytes are not a valid message."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """gRPC answers UNKNOWN when a deserializer raises; a malformed body is the
    caller's mistake, so hand the servicer wrapper a marker to refuse instead."""
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as exc:
            return _Undecodable(str(exc))

    return deserialize


def _malformed(request: Any) -> InvalidArgument | None:
    if isinstance(request, _Undecodable):
        return InvalidArgument(
            "the request is not a valid protobuf message", details={"error": request.reason}
        )
    return None


class _WrappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps each LoopyService handler once and reuses the result: the wrapping
    depends only on the method, and building handlers on every call costs time."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None or not method.startswith(_METHOD_PREFIX):
            return handler
        wrapped = self.wrap(handler, method)
        self._wrapped[method] = wrapped
        return wrapped

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        raise NotImplementedError


class _BeforeInterceptor(_WrappingInterceptor):
    """Runs `before(request, context)` ahead of every LoopyService method."""

    async def before(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        raise NotImplementedError

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        before = self.before

        def unary(behavior: Unary) -> Unary:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await before(request, context)
                return await behavior(request, context)

            return wrapped

        def stream(behavior: Stream) -> Stream:
            async def wrapped(
                request: Any, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                await before(request, context)
                async for response in behavior(request, context):
                    yield response

            return wrapped

        return _wrap(handler, unary, stream)  # type: ignore[return-value]


class AuthInterceptor(_BeforeInterceptor):
    """Hands the `authorization` metadata to the core's `Authenticator` (the key cache
    HTTP shares, service.domain.auth) and the Principal to the servicer."""

    def __init__(self, core: Loopy) -> None:
        super().__init__()
        self._authenticator = core.authenticator

    async def before(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        # Each RPC runs in its own task, so the value cannot leak into another call.
        current_principal.set(await self.authenticate(context.invocation_metadata() or ()))

    async def authenticate(self, metadata: Any) -> Principal:
        header = _metadata_value(metadata, "authorization")
        # A cache hit costs no thread; a miss reads the store off the event loop.
        cached = self._authenticator.cached(header)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self._authenticator.authenticate_header, header)


def _metadata_value(metadata: Any, name: str) -> str | None:
    for key, value in metadata:
        if key.lower() == name and isinstance(value, str):
            return value
    return None


class RequestSizeInterceptor(_BeforeInterceptor):
    def __init__(self, max_request_bytes: int) -> None:
        super().__init__()
        self._limit = max_request_bytes

    async def before(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        size = request.ByteSize()
        if size > self._limit:
            raise PayloadTooLarge(
                f"request is {size} bytes; the limit is {self._limit}",
                details={"size_bytes": size, "limit_bytes": self._limit},
            )


class ErrorInterceptor(_WrappingInterceptor):
    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:

        def unary(behavior: Unary) -> Unary:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    if refused := _malformed(request):
                        raise refused
                    return await behavior(request, context)
                except grpc.aio.AbortError:
                    raise
                except LoopyError as error:
                    await abort_with(context, error)
                except Exception as exc:
                    await abort_unexpected(context, method, exc)

            return wrapped

        def stream(behavior: Stream) -> Stream:
            async def wrapped(
                request: Any, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                try:
                    if refused := _malformed(request):
                        raise refused
                    async for response in behavior(request, context):
                        yield response
                except grpc.aio.AbortError:
                    raise
                except LoopyError as error:
                    await abort_with(context, error)
                except Exception as exc:
                    await abort_unexpected(context, method, exc)

            return wrapped

        return _wrap(handler, unary, stream, _tolerant)  # type: ignore[return-value]
