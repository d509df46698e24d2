"""One settings object, read from LOOPY_* environment variables once.

This file is the one place every variable is documented; `loopy config`
prints the effective values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec


def _default_data_dir() -> str:
    return str(Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "loopy")


class Settings(msgspec.Struct, kw_only=True):
    # Where the embedded default keeps everything (SQLite, artifacts, demo harness, keys).
    data_dir: str = msgspec.field(default_factory=_default_data_dir)  # LOOPY_DATA_DIR
    # Metadata store: sqlite:///path or postgresql://user@host/db. Default: SQLite in data_dir.
    database_url: str = ""  # LOOPY_DATABASE_URL
    # Artifact store: file:///path or s3://bucket. Default: data_dir/artifacts.
    artifacts_url: str = ""  # LOOPY_ARTIFACTS_URL
    # S3/MinIO endpoint and credentials for s3:// artifact URLs.
    s3_endpoint: str = ""  # LOOPY_S3_ENDPOINT (host:port or http(s)://host:port)
    s3_access_key: str = ""  # LOOPY_S3_ACCESS_KEY
    s3_secret_key: str = ""  # LOOPY_S3_SECRET_KEY
    s3_region: str = "us-east-1"  # LOOPY_S3_REGION
    s3_secure: bool = False  # LOOPY_S3_SECURE: https to the endpoint
    # Celery broker: redis://, amqp://, or empty for the embedded broker (no server).
    broker_url: str = ""  # LOOPY_BROKER_URL
    # Address of the HTTP and gRPC listeners of `loopy serve` / `loopy up`.
    http_host: str = "127.0.0.1"  # LOOPY_HTTP_HOST
    http_port: int = 8000  # LOOPY_HTTP_PORT
    grpc_host: str = "127.0.0.1"  # LOOPY_GRPC_HOST
    grpc_port: int = 50051  # LOOPY_GRPC_PORT
    # Largest request body accepted (bytes); larger gets 413.
    max_request_bytes: int = 1_000_000  # LOOPY_MAX_REQUEST_BYTES
    # A RUNNING run with no worker heartbeat for this long is re-queued once, then WORKER_LOST.
    heartbeat_timeout_s: float = 60.0  # LOOPY_HEARTBEAT_TIMEOUT_S
    # Default training budget per run when the harness does not set one.
    default_time_budget_s: float = 300.0  # LOOPY_DEFAULT_TIME_BUDGET_S
    # A QUEUED run nobody claimed for this long is published again (a lost message:
    # broker restarted empty, API died between storing and publishing); duplicates
    # are harmless, the claim guard admits one delivery.
    requeue_after_s: float = 120.0  # LOOPY_REQUEUE_AFTER_S
    # How long a worker retries a claim while the metadata store is down before it
    # hands the message back to the broker (never acknowledges it away).
    claim_retry_window_s: float = 60.0  # LOOPY_CLAIM_RETRY_WINDOW_S
    # Longest wait between two attempts to deliver a spooled result (jittered,
    # doubling from 0.5 s); a worker keeps trying until the result is stored.
    spool_retry_max_interval_s: float = 30.0  # LOOPY_SPOOL_RETRY_MAX_INTERVAL_S
    # On SIGTERM a worker takes no new run and lets the current one finish for this
    # long, then hands it back (QUEUED, same attempt). 0: hand it back at once.
    # deploy/k8s sets terminationGracePeriodSeconds to this plus a margin.
    worker_shutdown_grace_s: float = 20.0  # LOOPY_WORKER_SHUTDOWN_GRACE_S
    # How long /readyz reuses its last answer (it pings database, broker, object store).
    ready_cache_s: float = 2.0  # LOOPY_READY_CACHE_S
    # Where workers cache harnesses pulled from the artifact store.
    worker_cache_dir: str = ""  # LOOPY_WORKER_CACHE_DIR (default: data_dir/cache)
    # Where a worker keeps finished results and artifacts until the stores take them.
    worker_spool_dir: str = ""  # LOOPY_WORKER_SPOOL_DIR (default: data_dir/spool)
    # The sandbox of agent code (trainer/runner/sandbox/, deploy/README.md). A worker that
    # cannot build it refuses every run (SANDBOX_UNAVAILABLE) and /readyz says so, unless
    # LOOPY_UNSAFE_NO_SANDBOX=1: the explicit unsafe mode, where agent code runs as a plain
    # process with the worker's rights and every run, evaluation and leaderboard row says
    # `sandbox: none`. Only for a machine you would hand to the agents anyway.
    unsafe_no_sandbox: bool = False  # LOOPY_UNSAFE_NO_SANDBOX
    sandbox_bwrap: str = "bwrap"  # LOOPY_SANDBOX_BWRAP: the bubblewrap executable
    # Host uid (and gid) of agent code when the worker runs as root; it owns nothing.
    sandbox_uid: int = 61000  # LOOPY_SANDBOX_UID
    # /readyz also checks that this host can build the sandbox (0 where no worker runs
    # beside the API, e.g. the API Deployment).
    readyz_checks_sandbox: bool = True  # LOOPY_READYZ_CHECKS_SANDBOX
    # Log format: "json", "console" or "auto" (console on a terminal).
    log_format: str = "auto"  # LOOPY_LOG_FORMAT
    log_level: str = "info"  # LOOPY_LOG_LEVEL
    # Extra trainer RunConfig fields for every run of a worker, as a JSON object (e.g. a
    # tiny model and short deadlines for tests). Operators normally leave it unset.
    worker_run_options: dict[str, Any] = msgspec.field(default_factory=dict)
    # ^ LOOPY_WORKER_RUN_OPTIONS

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'loopy.db'}"

    @property
    def effective_artifacts_url(self) -> str:
        return self.artifacts_url or f"file://{Path(self.data_dir) / 'artifacts'}"

    @property
    def effective_worker_cache_dir(self) -> str:
        return self.worker_cache_dir or str(Path(self.data_dir) / "cache")

    @property
    def effective_worker_spool_dir(self) -> str:
        return self.worker_spool_dir or str(Path(self.data_dir) / "spool")


def mask_url(url: str) -> str:
    """The URL with its password replaced by *** (for messages and `loopy config`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class SettingsError(ValueError):
    """A LOOPY_* variable whose value does not fit its setting (named in the message)."""


# Spellings of a boolean accepted besides msgspec's own (true/false/1/0, any case).
_BOOL_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}


def _env_name(field_name: str) -> str:
    return "LOOPY_" + field_name.upper()


def _raw_value(field: msgspec.structs.FieldInfo, raw: str) -> object:
    """The variable's text as msgspec.convert takes it: JSON for structured settings,
    trimmed text with the usual boolean words for the rest."""
    if field.type is dict or getattr(field.type, "__origin__", None) is dict:
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise SettingsError(f"{_env_name(field.name)} must be a JSON object: {exc}") from None
    if field.type is str:
        return raw
    raw = raw.strip()
    if field.type is bool:
        return _BOOL_WORDS.get(raw.lower(), raw)
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read LOOPY_* variables (typed by the fields, coerced by msgspec), then apply
    overrides. A value that does not fit raises SettingsError naming the variable."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in msgspec.structs.fields(Settings):
        raw = env.get(_env_name(field.name))
        if raw is not None and raw != "":
            values[field.name] = _raw_value(field, raw)
    values.update(overrides)
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(exc, values, env)) from None


def _explain(
    exc: msgspec.ValidationError, values: dict[str, object], env: Mapping[str, str]
) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.http_port`" in the operator's terms."""
    text = str(exc)
    problem, _, where = text.partition(" - at `$.")
    name = where.split("`", 1)[0].split(".", 1)[0].split("[", 1)[0]
    if not name:
        return f"invalid settings: {text}"
    var = _env_name(name)
    shown = env.get(var, values.get(name))
    problem = problem.removesuffix(", got `str`")  # every variable is text
    return f"{var}={shown!r}: {problem[0].lower() + problem[1:]}"
