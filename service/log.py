"""structlog, configured once: JSON lines when not on a terminal, colours when on one.

Events are named `noun.verb` (`run.started`, `server.stopped`); ids are bound
as context (`run_id`, `track_id`, `agent_id`). Standard-library loggers
(uvicorn, grpc, celery) are routed through the same renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
import structlog.tracebacks

from service.settings import Settings

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _use_json(log_format: str) -> bool:
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    return not sys.stderr.isatty()


def configure_logging(settings: Settings | None = None) -> None:
    """Set up structlog and the root logger; safe to call more than once."""
    log_format = (settings.log_format if settings else "auto").lower()
    level = _LEVELS.get((settings.log_level if settings else "info").lower(), logging.INFO)
    as_json = _use_json(log_format)

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if as_json:
        renderer = structlog.processors.JSONRenderer()
        # Tracebacks as data, without frame locals: those may hold API keys or secrets.
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Access logs would dominate under load; request metrics live in /metrics.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Migration chatter on every start says nothing an operator needs.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
