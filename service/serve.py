"""`loopy serve`: HTTP (uvicorn) and gRPC (grpc.aio) in one process, on one event loop.

Both servers share one `Loopy` core. SIGINT/SIGTERM stop both gracefully:
new connections are refused, requests in flight get a grace period, then the
stores are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
from collections.abc import Callable, Iterator
from typing import Any

import structlog
import uvicorn

from service.domain.service import Loopy
from service.http.app import create_app
from service.settings import Settings

log = structlog.get_logger("loopy.serve")

SHUTDOWN_GRACE_S = 5.0  # time requests (and gRPC streams) in flight get to finish


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns SIGINT/SIGTERM for both servers
    (uvicorn would otherwise re-raise the signal after it stops, killing the gRPC side)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _start_grpc(core: Loopy, settings: Settings) -> tuple[Any, int] | None:
    try:
        from service.grpc.server import create_grpc_server
    except ImportError as exc:
        log.warning("grpc.disabled", reason=f"service.grpc.server unavailable: {exc}")
        return None
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    made = create_grpc_server(core, address, max_request_bytes=settings.max_request_bytes)
    if inspect.isawaitable(made):
        made = await made
    server, port = made
    await server.start()
    return server, port


async def serve(
    settings: Settings,
    core: Loopy | None = None,
    *,
    on_ready: Callable[[int, int | None], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or until `stop` is set).

    `on_ready(http_port, grpc_port)` is called once both listen (grpc_port is None
    when gRPC is unavailable). Builds the core from settings unless one is given,
    and then closes its stores on the way out.
    """
    owns_core = core is None
    if core is None:
        from service.wiring import build_core

        core = build_core(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    http = _HttpServer(
        uvicorn.Config(
            create_app(core, settings),
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,  # our structlog set-up renders uvicorn's records
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
        )
    )
    grpc_server: Any = None
    try:
        http_task = asyncio.create_task(http.serve(), name="http")
        while not http.started:
            if http_task.done():  # failed to bind: surface the error
                await http_task
                raise RuntimeError("HTTP server stopped before it started")
            await asyncio.sleep(0.02)
        http_port = _bound_port(http, settings.http_port)

        started = await _start_grpc(core, settings)
        grpc_port = None
        if started is not None:
            grpc_server, grpc_port = started
        log.info(
            "server.started",
            http=f"http://{settings.http_host}:{http_port}",
            grpc=f"{settings.grpc_host}:{grpc_port}" if grpc_port else None,
        )
        if on_ready is not None:
            on_ready(http_port, grpc_port)

        stop_wait = asyncio.create_task(stop.wait(), name="stop")
        await asyncio.wait({http_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        log.info("server.stopping")
        http.should_exit = True
        if grpc_server is not None:
            await grpc_server.stop(SHUTDOWN_GRACE_S)
            grpc_server = None
        await http_task
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if grpc_server is not None:
            await grpc_server.stop(0)
        if owns_core:
            _close_core(core)
        log.info("server.stopped")


def _bound_port(server: uvicorn.Server, configured: int) -> int:
    """The port actually bound (differs from the configured one when that is 0)."""
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    return configured


def _close_core(core: Loopy) -> None:
    with contextlib.suppress(Exception):
        core.meta.close()
    close = getattr(core.dispatcher, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def run_server(settings: Settings, core: Loopy | None = None) -> int:
    """Blocking entry point of `loopy serve`."""
    asyncio.run(serve(settings, core))
    return 0
