"""Harnesses: prepared data directories, copied into the artifact store and verified
against their manifest (content-addressed: the same id is the same files)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import structlog

from service.domain import idempotency, ids
from service.domain.context import Context
from service.domain.errors import InvalidArgument, Unavailable
from service.domain.limits import HARNESS_ID_RE
from service.domain.models import Harness, Page, Principal, utcnow
from service.domain.requests import CreateHarnessRequest

log = structlog.get_logger(__name__)


def create_harness(ctx: Context, principal: Principal, req: CreateHarnessRequest) -> Harness:
    ctx.require_admin(principal, "register harnesses")
    found, _ = idempotency.replayed(ctx, principal, "harness", req.request_id, ctx.meta.get_harness)
    if found is not None:
        return found
    if req.demo == bool(req.path):
        raise InvalidArgument(
            "give exactly one of `path` and `demo`",
            details={"field": "path", "path": req.path, "demo": req.demo},
        )
    if req.demo:
        directory = build_demo_harness_dir(ctx)
    else:
        assert req.path is not None
        directory = Path(req.path)
    harness = register_harness_dir(ctx, directory, req.description)
    if req.request_id:
        ctx.meta.put_request(principal.agent_id, "harness", req.request_id, harness.id)
    return harness


def build_demo_harness_dir(ctx: Context) -> Path:
    base = ctx.settings.harness_build_dir or tempfile.mkdtemp(prefix="loopy-demo-")
    out_dir = Path(base) / "demo-harness"
    try:
        from trainer.data.demo import build_demo_harness
    except ImportError as exc:  # the trainer is an optional part of a deployment
        raise Unavailable(
            "the demo harness builder is not installed", details={"error": str(exc)}
        ) from exc
    build_demo_harness(out_dir)
    return out_dir


def register_harness_dir(ctx: Context, directory: Path, description: str) -> Harness:
    """Copy a prepared harness into the artifact store, verifying every file's sha256."""
    if not directory.is_dir():
        raise InvalidArgument(
            "harness path is not a directory the server can read",
            details={"field": "path", "path": str(directory)},
        )
    manifest_path = directory / "manifest.json"
    harness = harness_from_manifest(manifest_path, description, ctx.settings.default_time_budget_s)
    existing = ctx.meta.get_harness(harness.id)
    if existing is not None:  # content-addressed: same id, same files
        return existing
    total = 0
    for name, expected in sorted(harness.files.items()):
        path = directory / name
        if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
            raise InvalidArgument(
                "a file listed in the manifest is missing or not a plain file name",
                details={"file": name, "path": str(directory)},
            )
        with path.open("rb") as f:
            ref = ctx.artifacts.put(ids.harness_key(harness.id, name), f, path.stat().st_size)
        if ref.sha256 != expected:
            raise InvalidArgument(
                "a harness file does not match the sha256 in its manifest",
                details={
                    "file": name,
                    "expected_sha256": expected,
                    "actual_sha256": ref.sha256,
                },
            )
        total += ref.size_bytes
    # The manifest goes last: its presence in the store marks a complete upload.
    ctx.artifacts.put_bytes(
        ids.harness_key(harness.id, "manifest.json"), manifest_path.read_bytes()
    )
    harness.size_bytes = total
    if not ctx.meta.put_harness(harness):
        return ctx.harness(harness.id)
    log.info("harness.created", harness_id=harness.id, size_bytes=total)
    return harness


def harness_from_manifest(
    manifest_path: Path, description: str, default_time_budget_s: float
) -> Harness:
    """The harness a `loopy-harness/1` manifest.json describes (files not yet copied:
    size 0); InvalidArgument naming the field that is missing or wrong."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidArgument(
            "harness directory has no manifest.json", details={"path": str(manifest_path.parent)}
        ) from exc
    except (OSError, ValueError) as exc:
        raise InvalidArgument(
            "manifest.json is not readable JSON",
            details={"path": str(manifest_path), "error": str(exc)},
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != "loopy-harness/1":
        raise InvalidArgument(
            "manifest.json is not a loopy-harness/1 manifest",
            details={"format": manifest.get("format") if isinstance(manifest, dict) else None},
        )
    required = {
        "harness_id": str,
        "vocab_size": int,
        "bos_token_id": int,
        "seq_len": int,
        "eval_tokens": int,
        "files": dict,
    }
    for field, kind in required.items():
        if not isinstance(manifest.get(field), kind):
            raise InvalidArgument(
                f"manifest.json field {field!r} is missing or not {kind.__name__}",
                details={"field": field, "value": repr(manifest.get(field))[:100]},
            )
    harness_id = manifest["harness_id"]
    if not HARNESS_ID_RE.match(harness_id):
        raise InvalidArgument(
            "manifest harness_id has unexpected characters",
            details={"field": "harness_id", "value": harness_id[:100]},
        )
    files = manifest["files"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise InvalidArgument(
            "manifest files must map names to sha256 strings", details={"field": "files"}
        )
    budget = manifest.get("time_budget_s", default_time_budget_s)
    if not isinstance(budget, int | float) or not budget > 0:
        raise InvalidArgument(
            "manifest time_budget_s must be a positive number",
            details={"field": "time_budget_s", "value": repr(budget)},
        )
    return Harness(
        id=harness_id,
        description=description or str(manifest.get("description", "")),
        vocab_size=manifest["vocab_size"],
        seq_len=manifest["seq_len"],
        eval_tokens=manifest["eval_tokens"],
        bos_token_id=manifest["bos_token_id"],
        time_budget_s=float(budget),
        metric=str(manifest.get("metric", "val_bpb")),
        files=dict(files),
        size_bytes=0,
        create_time=utcnow(),
    )


def get_harness(ctx: Context, principal: Principal, harness_id: str) -> Harness:
    return ctx.harness(harness_id)


def list_harnesses(
    ctx: Context, principal: Principal, page_size: int | None, page_token: str
) -> Page[Harness]:
    items, token = ctx.meta.list_harnesses(ctx.page_size(page_size), page_token)
    return Page(items=items, next_page_token=token)
