"""Health and metrics: no key needed, so orchestrators and scrapers can reach them."""

from __future__ import annotations

import anyio.to_thread
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.domain.service import Loopy
from service.http.schemas import HealthStatus
from service.http.telemetry import Telemetry
from service.sandbox_check import UNSAFE, sandbox_label, sandbox_problem
from service.settings import Settings


@get(
    "/healthz",
    operation_id="Healthz",
    summary="Liveness: the process is up",
    tags=["health"],
)
async def healthz() -> HealthStatus:
    """Answers 200 as long as the process serves requests. No key needed."""
    return HealthStatus(status="ok")


@get(
    "/readyz",
    operation_id="Readyz",
    summary="Readiness: the metadata store answers and agent code can be sealed",
    tags=["health"],
    responses={
        503: ResponseSpec(
            data_container=HealthStatus,
            description="The metadata store does not answer, or this host cannot build "
            "the sandbox for agent code (`details.sandbox` says what is missing).",
            generate_examples=False,
        )
    },
)
async def readyz(
    core: NamedDependency[Loopy], settings: NamedDependency[Settings]
) -> Response[HealthStatus]:
    """200 when the metadata store answers a ping and (unless LOOPY_READYZ_CHECKS_SANDBOX=0)
    this host can seal agent code; 503 otherwise. In the operator's unsafe mode the
    sandbox check passes and `details.sandbox` is "none". No key needed."""
    try:
        store_ok = bool(await anyio.to_thread.run_sync(core.meta.ping))
    except Exception:  # a failing ping means "not ready", never a 500
        store_ok = False
    checks = {"metadata_store": store_ok}
    details: dict[str, str] = {}
    if settings.readyz_checks_sandbox:
        problem = await anyio.to_thread.run_sync(sandbox_problem, settings)
        checks["sandbox"] = problem is None
        label = sandbox_label(settings)
        details["sandbox"] = f"SANDBOX_UNAVAILABLE: {problem}" if problem else label
        if label == UNSAFE:
            details["sandbox"] = "none: LOOPY_UNSAFE_NO_SANDBOX is set, agent code runs unsealed"
    ok = all(checks.values())
    return Response(
        HealthStatus(status="ok" if ok else "unavailable", checks=checks, details=details),
        status_code=200 if ok else 503,
    )


@get(
    "/metrics",
    operation_id="PrometheusMetrics",
    summary="Prometheus metrics",
    tags=["health"],
    media_type=CONTENT_TYPE_LATEST,
    responses={
        200: ResponseSpec(
            data_container=str,
            media_type="text/plain",
            description="Prometheus text exposition: request counts and latency per operation.",
            generate_examples=False,
        )
    },
)
async def prometheus_metrics(telemetry: NamedDependency[Telemetry]) -> Response[bytes]:
    """Request counts and latency histograms per operation, in Prometheus text format."""
    return Response(content=generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)
