"""The gRPC server factory: LoopyService, the standard health service and
server reflection on one grpc.aio server.

    server, port = create_grpc_server(core, "127.0.0.1:0")
    await server.start()
    ...
    await server.stop(grace=1.0)
"""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service.domain.service import Loopy
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
from service.grpc.interceptors import (
    SERVICE_NAME,
    AuthInterceptor,
    ErrorInterceptor,
    RequestSizeInterceptor,
)
from service.grpc.metrics import MetricsInterceptor
from service.grpc.servicer import LoopyServicer
from service.telemetry import Telemetry

HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class LoopyHealthServicer(health.aio.HealthServicer):
    """grpc.health.v1.Health whose Check of "" or loopy.v1.LoopyService also asks the
    metadata store, the broker and the artifact store: any that does not answer reads
    NOT_SERVING (like /readyz)."""

    def __init__(self, core: Loopy) -> None:
        super().__init__()
        self._core = core
        self._server_status[SERVICE_NAME] = _SERVING

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        answer = await super().Check(request, context)
        if answer is None or answer.status != _SERVING:
            return answer  # type: ignore[return-value]
        checks = await asyncio.to_thread(self._core.readiness)
        ready = all(checks.values())
        return health_pb2.HealthCheckResponse(status=_SERVING if ready else _NOT_SERVING)


def create_grpc_server(
    core: Loopy,
    address: str,
    *,
    max_request_bytes: int = 1_000_000,
    telemetry: Telemetry | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A configured, not yet started server bound to `address` ("host:0" picks a
    free port), and the port it got.

    Request messages over `max_request_bytes` are refused as PAYLOAD_TOO_LARGE
    (INVALID_ARGUMENT); gRPC's own receive cap sits above that, so only a
    grossly oversize message is cut off by the transport (RESOURCE_EXHAUSTED).
    """
    interceptors: list[grpc.aio.ServerInterceptor] = [
        ErrorInterceptor(),  # sees the errors of the two below
        AuthInterceptor(core),
        RequestSizeInterceptor(max_request_bytes),
    ]
    if telemetry is not None:  # outermost: counts each call with its final status
        interceptors.insert(0, MetricsInterceptor(telemetry))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", 2 * max_request_bytes + 64 * 1024),
            # gRPC sets SO_REUSEPORT by default: a second server on a taken port would
            # start "fine" and get half the connections. A taken port must be an error.
            ("grpc.so_reuseport", 0),
        ],
    )
    rpc.add_LoopyServiceServicer_to_server(LoopyServicer(core), server)
    health_pb2_grpc.add_HealthServicer_to_server(LoopyHealthServicer(core), server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind the gRPC server to {address}")
    return server, port
