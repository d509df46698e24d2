"""`loopy serve`: HTTP (uvicorn) and gRPC (grpc.aio) in one process, on one event loop.

Both servers share one `Loopy` core. SIGINT/SIGTERM stop both gracefully:
new connections are refused, requests in flight get a grace period, then the
stores are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
import uvicorn

from service.domain.service import Loopy
from service.grpc.server import create_grpc_server
from service.http.app import create_app
from service.settings import Settings, mask_url

log = structlog.get_logger("loopy.serve")

SHUTDOWN_GRACE_S = 5.0  # time requests (and gRPC streams) in flight get to finish


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns SIGINT/SIGTERM for both servers
    (uvicorn would otherwise re-raise the signal after it stops, killing the gRPC side)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _start_grpc(core: Loopy, settings: Settings, telemetry: Any) -> tuple[Any, int]:
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    server, port = create_grpc_server(
        core, address, max_request_bytes=settings.max_request_bytes, telemetry=telemetry
    )
    await server.start()
    return server, port


async def serve(
    settings: Settings,
    core: Loopy | None = None,
    *,
    on_ready: Callable[[int, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or until `stop` is set).

    `on_ready(http_port, grpc_port)` is called once both listen. Builds the core
    from settings unless one is given, and then closes its stores on the way out.
    """
    owns_core = core is None
    if core is None:
        core = open_core(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    from service.telemetry import Telemetry

    telemetry = Telemetry(core.meta)  # one registry: HTTP and gRPC series on /metrics
    http = _HttpServer(
        uvicorn.Config(
            create_app(core, settings, telemetry),
            log_config=None,  # our structlog set-up renders uvicorn's records
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
        )
    )
    grpc_server: Any = None
    http_task: asyncio.Task[None] | None = None
    endpoint: Path | None = None
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
                bind_failure_message("HTTP", settings.http_host, settings.http_port, exc)
            ) from exc
        http_port = int(http_socket.getsockname()[1])
        http_task = asyncio.create_task(http.serve(sockets=[http_socket]), name="http")
        while not http.started:
            if http_task.done():
                raise ServeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.02)

        try:
            grpc_server, grpc_port = await _start_grpc(core, settings, telemetry)
        except Exception as exc:  # grpc reports a taken port as RuntimeError
            log.error(
                "server.bind_failed",
                address=f"{settings.grpc_host}:{settings.grpc_port}",
                error=str(exc),
            )
            raise ServeError(
                bind_failure_message("gRPC", settings.grpc_host, settings.grpc_port, exc)
            ) from exc
        log.info(
            "server.started",
            http=f"http://{settings.http_host}:{http_port}",
            grpc=f"{settings.grpc_host}:{grpc_port}",
        )
        endpoint = _write_endpoint(settings, http_port, grpc_port)
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
        _remove_endpoint(endpoint)
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


ENDPOINT_FILE = Path("run") / "api.json"  # read by clients (loopy_sdk.local) and `loopy keys`


def _write_endpoint(settings: Settings, http_port: int, grpc_port: int) -> Path | None:
    """Tell local clients where this API listens and which database it has open."""
    path = Path(settings.data_dir) / ENDPOINT_FILE
    host = settings.http_host if settings.http_host not in ("0.0.0.0", "::") else "127.0.0.1"
    record = {
        "pid": os.getpid(),
        "http_url": f"http://{host}:{http_port}",
        "grpc_address": f"{settings.grpc_host}:{grpc_port}",
        "database_url": mask_url(settings.effective_database_url),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)
    except OSError as exc:  # a read-only data dir: clients fall back to LOOPY_URL
        log.warning("server.endpoint_unwritten", path=str(path), error=str(exc))
        return None
    return path


def _remove_endpoint(path: Path | None) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _close_core(core: Loopy) -> None:
    with contextlib.suppress(Exception):
        core.meta.close()
    close = getattr(core.dispatcher, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


class ServeError(Exception):
    """The servers could not start; the message says why and what to change."""


# The flag and variable that change each listener's port, for the busy-port message.
_PORT_KNOBS = {
    "HTTP": ("--http-port", "LOOPY_HTTP_PORT"),
    "gRPC": ("--grpc-port", "LOOPY_GRPC_PORT"),
}


def bind_failure_message(what: str, host: str, port: int, exc: BaseException) -> str:
    flag, variable = _PORT_KNOBS[what]
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE) or "in use" in text.lower():
        return (
            f"{what} port {port} on {host} is already in use (another Loopy, or another "
            f"program): stop it, or pick a free port with {flag} PORT (or {variable})"
        )
    if what == "gRPC" and "bind" in text.lower():  # grpc says only "Failed to bind"
        return (
            f"cannot listen for {what} on {host}:{port} ({text}); the port is probably in "
            f"use: pick a free one with {flag} PORT (or {variable})"
        )
    return f"cannot listen for {what} on {host}:{port}: {text}; change it with {flag} PORT"


def _scrub(text: str, url: str) -> str:
    """An error text without the URL's password, whatever library wrote it."""
    password = urlsplit(url).password if "://" in url else None
    return text.replace(password, "***") if password else text


def open_core(settings: Settings) -> Loopy:
    """The core, or a ServeError naming the store or broker that cannot be reached."""
    from service.wiring import build_core

    database = settings.effective_database_url
    try:
        core = build_core(settings)
    except Exception as exc:
        first = _scrub(
            str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc), database
        )
        raise ServeError(
            f"cannot open the metadata store at {mask_url(database)}: {first} "
            "(check LOOPY_DATABASE_URL and that the database server is up)"
        ) from exc
    if settings.broker_url:
        try:
            _probe_broker(settings.broker_url)
        except Exception as exc:
            _close_core(core)
            detail = _scrub(str(exc) or type(exc).__name__, settings.broker_url)
            raise ServeError(
                f"cannot reach the broker at {mask_url(settings.broker_url)}: {detail} "
                "(check LOOPY_BROKER_URL and that the broker is up)"
            ) from exc
    return core


BROKER_PROBE_TIMEOUT_S = 5.0


def _probe_broker(url: str) -> None:
    from kombu import Connection

    with Connection(url, connect_timeout=BROKER_PROBE_TIMEOUT_S) as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_PROBE_TIMEOUT_S)


def run_server(settings: Settings, core: Loopy | None = None) -> int:
    """Blocking entry point of `loopy serve`: 0 after a clean stop, 1 when it could not start."""
    try:
        asyncio.run(serve(settings, core))
    except ServeError as error:
        print(f"loopy serve: {error}", file=sys.stderr, flush=True)
        return 1
    return 0
