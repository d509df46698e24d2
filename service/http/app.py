"""The Litestar app factory: every endpoint of SPEC §2 over one `Loopy` core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread
from litestar import Litestar, Request, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.static_files import create_static_files_router

from service.domain.service import Loopy
from service.http.auth import BEARER_SCHEME, RequestAuth
from service.http.controllers.catalog import (
    AgentController,
    HarnessController,
    RevisionController,
)
from service.http.controllers.ops import (
    healthz,
    prometheus_metrics,
    prometheus_metrics_head,
    readyz,
)
from service.http.controllers.runs import RunController
from service.http.controllers.tracks import TrackController
from service.http.problems import handle_exception
from service.http.strict import reject_unknown_input
from service.http.telemetry import Telemetry, http_metrics_middleware
from service.settings import Settings

API_DESCRIPTION = """\
Loopy runs autonomous ML research loops for AI agents against a fixed, trusted
training-and-evaluation harness. The loop, for an agent:

1. `ListTracks`, then `GetProgram` on a track: the goal, the metric (`val_bpb`,
   lower is better), the time budget and the rules of `train.py`.
2. `GetRevision` on the track's `head_revision` to read the current `train.py`.
3. `ProposeEdit` with a unified diff, SEARCH/REPLACE blocks or the full new source.
4. `LaunchRun` on the new revision; follow it with `WatchRun` (server-sent
   events) or poll `GetRun`; read `GetMetrics` and `GetRunLogs`.
5. `Evaluate` the finished run against the head (replicate seeds, noise-aware
   verdict KEEP / DISCARD / INCONCLUSIVE), poll `GetEvaluation`.
6. On KEEP, `PromoteRun` to advance the head (a compare-and-swap: a 409 means
   someone else advanced it first; rebase and try again).

Every request needs `Authorization: Bearer <api key>` except `/healthz`,
`/readyz`, `/metrics` and `/schema`. Every error is RFC 9457 problem JSON
(`application/problem+json`) with a stable `code` (INVALID_ARGUMENT, NOT_FOUND,
CONFLICT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, UNAUTHENTICATED,
PERMISSION_DENIED, ...) and machine-readable `details`. Creates accept a
`request_id`: retrying with the same one returns the first result. Lists take
`page_size` and `page_token` and return `next_page_token` ("" on the last page).
Time stamps are RFC 3339; durations carry their unit in the field name.
"""

# Swagger UI's files ship in the package (swagger-ui-dist), so /schema works offline.
SWAGGER_UI_DIR = Path(__file__).parent / "static" / "swagger-ui"
SWAGGER_UI_URL = "/schema/assets"


def swagger_ui() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        js_url=f"{SWAGGER_UI_URL}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_UI_URL}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_UI_URL}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_UI_URL}/favicon-32x32.png'>",
    )


# Threads running the (synchronous) use-cases. Few beat many: under 64 concurrent
# clients, 40 threads mostly fight over the GIL (bench/api_load.py: ~1.5x the
# throughput and a shorter tail with 8 on 2 cores).
WORKER_THREADS = 8


def create_app(core: Loopy, settings: Settings, telemetry: Telemetry | None = None) -> Litestar:
    """`telemetry` is shared with the gRPC server when both run in one process."""
    authenticator = RequestAuth(core.authenticator)  # the key cache gRPC shares
    telemetry = telemetry or Telemetry(core.meta)

    def provide_core() -> Loopy:
        return core

    def provide_telemetry() -> Telemetry:
        return telemetry

    def provide_settings() -> Settings:
        return settings

    async def before_request(request: Request[Any, Any, Any]) -> None:
        await authenticator.authenticate_request(request)  # 401 before anything else
        await reject_unknown_input(request)

    api = Router(
        path="/",
        route_handlers=[
            TrackController,
            RunController,
            RevisionController,
            HarnessController,
            AgentController,
            healthz,
            readyz,
            prometheus_metrics,
            prometheus_metrics_head,
        ],
        before_request=before_request,
    )

    async def limit_worker_threads() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS

    return Litestar(
        on_startup=[limit_worker_threads],
        route_handlers=[
            api,
            create_static_files_router(
                path=SWAGGER_UI_URL,
                directories=[SWAGGER_UI_DIR],
                include_in_schema=False,
                name="swagger-ui-assets",
            ),
        ],
        dependencies={
            "core": Provide(provide_core, use_cache=True, sync_to_thread=False),
            "telemetry": Provide(provide_telemetry, use_cache=True, sync_to_thread=False),
            "settings": Provide(provide_settings, use_cache=True, sync_to_thread=False),
            "principal": Provide(authenticator.provide_principal),
        },
        exception_handlers={Exception: handle_exception},
        middleware=[http_metrics_middleware(telemetry)],
        request_max_body_size=settings.max_request_bytes,
        openapi_config=OpenAPIConfig(
            title="Loopy",
            version="1.0.0",
            summary="The research loop as an API, for AI agents.",
            description=API_DESCRIPTION,
            path="/schema",
            use_handler_docstrings=True,
            render_plugins=[swagger_ui()],
            components=Components(
                security_schemes={
                    BEARER_SCHEME: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key from `loopy keys create` or CreateAgent.",
                    )
                }
            ),
            tags=[
                Tag(name="tracks", description="Lines of research: program, edits, runs, head."),
                Tag(name="runs", description="Training runs, their metrics, logs and evaluations."),
                Tag(name="revisions", description="Versions of train.py and their lineage."),
                Tag(name="harnesses", description="Fixed data, tokenizer and evaluation (admin)."),
                Tag(name="agents", description="Callers, keys, roles and quotas."),
                Tag(name="health", description="Liveness, readiness, Prometheus metrics."),
            ],
        ),
        logging_config=None,  # service.log configures logging once for the process
        debug=False,
    )
