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
import socket
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
            log_config=None,  # our structlog set-up renders uvicorn's records
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
        )
    )
    grpc_server: Any = None
    http_task: asyncio.Task[None] | None = None
    try:
        try:
            # Bind first, so a taken port is one clear error rather than uvicorn's exit.
            http_socket = socket.create_server((settings.http_host, settings.http_port))
        except OSError as exc:
            log.error(
                "server.bind_failed",
                address=f"{settings.http_host}:{settings.http_port}",
                error=str(exc),
            )
            raise ServeError(
                f"cannot listen on {settings.http_host}:{settings.http_port}: {exc}"
            ) from exc
        http_port = int(http_socket.getsockname()[1])
        http_task = asyncio.create_task(http.serve(sockets=[http_socket]), name="http")
        while not http.started:
            if http_task.done():
                raise ServeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.02)

        try:
            started = await _start_grpc(core, settings)
        except Exception as exc:  # grpc reports a taken port as RuntimeError
            log.error(
                "server.bind_failed",
                address=f"{settings.grpc_host}:{settings.grpc_port}",
                error=str(exc),
            )
            raise ServeError(f"cannot start gRPC: {exc}") from exc
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
        http_task = None
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if grpc_server is not None:
            await grpc_server.stop(0)
        if http_task is not None:  # leaving on an error: stop HTTP too
            http.should_exit = True
            with contextlib.suppress(BaseException):
                await http_task
        if owns_core:
            _close_core(core)
        log.info("server.stopped")


def _close_core(core: Loopy) -> None:
    with contextlib.suppress(Exception):
        core.meta.close()
    close = getattr(core.dispatcher, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


class ServeError(Exception):
    """The servers could not start (already logged)."""


def run_server(settings: Settings, core: Loopy | None = None) -> int:
    """Blocking entry point of `loopy serve`: 0 after a clean stop, 1 when it could not start."""
    try:
        asyncio.run(serve(settings, core))
    except ServeError:
        return 1
    return 0
