"""`loopy up`, `loopy serve`, `loopy keys create` and `loopy config`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from service.domain.errors import Unavailable
from service.domain.models import Run
from service.domain.ports import Dispatcher

# Settings fields whose values are secrets: `loopy config` shows only whether they are set.
_SECRET_FIELDS = {"s3_secret_key", "s3_access_key"}


_DATA_DIR_HELP = (
    "override LOOPY_DATA_DIR; the default ($XDG_DATA_HOME/loopy, else "
    "~/.local/share/loopy) is the same for up, serve, worker, keys and config"
)


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from pathlib import Path

    from service.settings import load_settings

    if getattr(args, "data_dir", None):
        overrides["data_dir"] = str(Path(args.data_dir).resolve())
    return load_settings(**overrides)


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the API: HTTP and gRPC in one process",
        description=(
            "Serve the Loopy API over HTTP (OpenAPI at /schema/openapi.json) and gRPC "
            "(loopy.v1.LoopyService) from one process. Stores, broker and limits come "
            "from LOOPY_* variables (see `loopy config`). SIGINT/SIGTERM stop it gracefully."
        ),
    )
    serve.add_argument("--host", default=None, help="listen address for both (LOOPY_HTTP_HOST)")
    serve.add_argument("--http-port", type=int, default=None, help="HTTP port (default 8000)")
    serve.add_argument("--grpc-port", type=int, default=None, help="gRPC port (default 50051)")
    serve.add_argument("--data-dir", default=None, help=_DATA_DIR_HELP)
    serve.set_defaults(func=_serve)

    keys = subparsers.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    create = keys_sub.add_parser(
        "create",
        help="create an agent and print its API key (once)",
        description=(
            "Create a caller with an API key, directly in the metadata store (a trusted local "
            "tool: no running server needed). The key goes to stdout, alone, and is never "
            "shown again: only its hash is stored."
        ),
    )
    create.add_argument("--name", required=True, help="agent name, e.g. agent-7")
    create.add_argument(
        "--role", choices=["agent", "admin"], default="agent", help="default: agent"
    )
    create.add_argument("--data-dir", default=None, help=_DATA_DIR_HELP)
    create.set_defaults(func=_keys_create)
    keys.set_defaults(func=lambda _args: (keys.print_help(), 2)[1])

    config = subparsers.add_parser(
        "config",
        help="print the effective settings (LOOPY_* variables and defaults)",
        description="Every setting with its LOOPY_* variable and effective value; secrets masked.",
    )
    config.add_argument("--json", action="store_true", help="print JSON instead of lines")
    config.add_argument("--data-dir", default=None, help=_DATA_DIR_HELP)
    config.add_argument(
        "--get", metavar="NAME", default=None, help="print one effective value (e.g. data_dir)"
    )
    config.set_defaults(func=_config)

    up = subparsers.add_parser(
        "up",
        help="start everything on this machine: API, one worker, demo harness, baseline track",
        description=(
            "The embedded default: SQLite, a local artifact directory and a broker that "
            "needs no server, all under the data dir; the API (HTTP and gRPC) and one "
            "worker on the local device. Ctrl-C stops everything."
        ),
    )
    up.add_argument("--data-dir", default=None, help="where everything lives (LOOPY_DATA_DIR)")
    up.add_argument("--http-port", type=int, default=None, help="HTTP port (default 8000)")
    up.add_argument("--grpc-port", type=int, default=None, help="gRPC port (default 50051)")
    up.add_argument(
        "--device", default=None, help="worker device (default: cuda:0 when available, else cpu)"
    )
    up.add_argument(
        "--budget", type=float, default=None, help="training seconds per run of the baseline track"
    )
    up.add_argument(
        "--harness",
        default=None,
        help="prepared harness dir for the baseline track (default: build the demo harness)",
    )
    up.set_defaults(func=_up)


def _up(args: argparse.Namespace) -> int:
    from service.up import run_embedded

    return run_embedded(
        data_dir=args.data_dir,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        device=args.device,
        budget_s=args.budget,
        harness_dir=args.harness,
    )


def _serve(args: argparse.Namespace) -> int:
    from service.log import configure_logging
    from service.serve import run_server

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["http_host"] = args.host
        overrides["grpc_host"] = args.host
    if args.http_port is not None:
        overrides["http_port"] = args.http_port
    if args.grpc_port is not None:
        overrides["grpc_port"] = args.grpc_port
    settings = _settings(args, **overrides)
    configure_logging(settings)
    return run_server(settings)


def _keys_create(args: argparse.Namespace) -> int:
    from service.domain.errors import LoopyError
    from service.domain.models import Principal, Role
    from service.domain.service import CreateAgentRequest
    from service.log import configure_logging
    from service.wiring import build_core

    settings = _settings(args)
    configure_logging(settings)
    core = build_core(settings, dispatcher=_NoRuns())
    try:
        if args.role == "admin":
            created = core.bootstrap_admin(args.name)
        else:
            # The CLI is trusted (it holds the store credentials), so it acts as an admin.
            operator = Principal(agent_id="cli", name="loopy keys", role=Role.ADMIN)
            created = core.create_agent(
                operator, CreateAgentRequest(name=args.name, role=Role.AGENT)
            )
    except LoopyError as exc:
        print(f"loopy keys create: {exc.message}", file=sys.stderr)
        return 1
    finally:
        core.meta.close()
    agent = created.agent
    print(
        f"created {agent.role} {agent.name!r} (id {agent.id}); the key below is shown only once",
        file=sys.stderr,
    )
    if (warning := unused_database_warning(settings)) is not None:
        print(warning, file=sys.stderr)
    print(created.api_key)
    return 0


def running_service(settings: Any) -> dict[str, Any] | None:
    """The API that serves this data dir (its run/api.json, if its process lives)."""
    import json
    import os
    from pathlib import Path

    from service.serve import ENDPOINT_FILE

    try:
        record = json.loads((Path(settings.data_dir) / ENDPOINT_FILE).read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record, dict) else None


def unused_database_warning(settings: Any) -> str | None:
    """A key written to a SQLite file that no running service has open is a key that
    will get 401: say so, with where the data dir is and how to point at another."""
    from service.settings import mask_url

    database = settings.effective_database_url
    if not database.startswith("sqlite"):
        return None  # a shared server database: services may run on other machines
    record = running_service(settings)
    if record is not None and record.get("database_url") == mask_url(database):
        return None
    return (
        f"warning: no running Loopy service uses {database} (data dir {settings.data_dir}); "
        "this key works only with a service started on that data dir. A service on another "
        "data dir needs LOOPY_DATA_DIR=<its dir> loopy keys create ... (`loopy config` shows "
        "which data dir and database this machine's commands use)"
    )


def _config(args: argparse.Namespace) -> int:
    import msgspec

    from service.settings import mask_url

    settings = _settings(args)
    rows: dict[str, Any] = {}
    for field in msgspec.structs.fields(settings):
        value = getattr(settings, field.name)
        if field.name in _SECRET_FIELDS:
            value = "(set)" if value else "(unset)"
        elif field.name.endswith("_url") and isinstance(value, str):
            value = mask_url(value)
        rows["LOOPY_" + field.name.upper()] = value
    service = running_service(settings)
    effective = {
        "data_dir": settings.data_dir,
        "database_url": mask_url(settings.effective_database_url),
        "artifacts_url": settings.effective_artifacts_url,
        "worker_cache_dir": settings.effective_worker_cache_dir,
        "broker_url": mask_url(settings.broker_url) or "(embedded, under the data dir)",
        "running_service": service.get("http_url") if service else None,
    }
    if args.get:
        if args.get not in effective:
            print(
                f"loopy config: no value {args.get!r}; one of {', '.join(effective)}",
                file=sys.stderr,
            )
            return 2
        print(effective[args.get] if effective[args.get] is not None else "")
        return 0
    if args.json:
        print(msgspec.json.encode({"settings": rows, "effective": effective}).decode())
        return 0
    for name, value in rows.items():
        print(f"{name}={value}")
    print("# effective (defaults filled in)")
    for name, value in effective.items():
        print(f"{name}={value}")
    return 0


class _NoRuns(Dispatcher):
    """`loopy keys` never queues runs; this keeps it from needing a broker."""

    def submit(self, run: Run) -> None:
        raise Unavailable("this command does not launch runs")

    def cancel(self, run: Run) -> None:
        return None
