"""Health and metrics: no key needed, so orchestrators and scrapers can reach them."""

from __future__ import annotations

import math

import anyio.to_thread
from litestar import Response, get, head
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST

from service.domain.errors import DEPENDENCY_RETRY_AFTER_S
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
    summary="Readiness: the database, broker and object store answer, and agent code can be sealed",
    tags=["health"],
    responses={
        503: ResponseSpec(
            data_container=HealthStatus,
            description="A dependency does not answer, or this host cannot build the sandbox "
            "for agent code; `checks` says which, `details.sandbox` what is missing.",
            generate_examples=False,
        )
    },
)
async def readyz(
    core: NamedDependency[Loopy], settings: NamedDependency[Settings]
) -> Response[HealthStatus]:
    """200 when the metadata store, the broker and the artifact store all answer and
    (unless LOOPY_READYZ_CHECKS_SANDBOX=0) this host can seal agent code; 503 (with
    Retry-After) otherwise; store answers are cached for a few seconds. In the operator's
    unsafe mode the sandbox check passes and `details.sandbox` says "none". No key needed."""
    checks = await anyio.to_thread.run_sync(core.readiness)
    details: dict[str, str] = {}
    if settings.readyz_checks_sandbox:
        problem = await anyio.to_thread.run_sync(sandbox_problem, settings)
        checks["sandbox"] = problem is None
        details["sandbox"] = f"SANDBOX_UNAVAILABLE: {problem}" if problem else "bubblewrap"
        if sandbox_label(settings) == UNSAFE:
            details["sandbox"] = "none: LOOPY_UNSAFE_NO_SANDBOX is set, agent code runs unsealed"
    ready = all(checks.values())
    return Response(
        HealthStatus(status="ok" if ready else "unavailable", checks=checks, details=details),
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": str(math.ceil(DEPENDENCY_RETRY_AFTER_S))},
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
            description="Prometheus text exposition: HTTP and gRPC requests per operation, "
            "runs by state and device class, queue depth, run durations, worker heartbeats, "
            "evaluations by verdict.",
            generate_examples=False,
        )
    },
)
async def prometheus_metrics(telemetry: NamedDependency[Telemetry]) -> Response[bytes]:
    """Request series of this process and the work read from the store, in Prometheus
    text format. No key needed."""
    body = await anyio.to_thread.run_sync(telemetry.exposition)  # reads the store
    # The header is set whole: Litestar would append a second charset to text/plain.
    return Response(content=body, headers={"content-type": CONTENT_TYPE_LATEST})


@head("/metrics", include_in_schema=False)
async def prometheus_metrics_head() -> Response[None]:
    """Scrapers and load balancers probe with HEAD: the same headers, no body."""
    return Response(content=None, headers={"content-type": CONTENT_TYPE_LATEST})
