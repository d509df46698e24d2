"""Harnesses: prepared data directories, copied into the artifact store and verified
against their manifest (content-addressed: the same id is the same files)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import structlog

from service.domain import idempotency, ids
from service.domain.context import Context
from service.domain.errors import InvalidArgument, Unavailable
from service.domain.models import Harness, Page, Principal, utcnow
from service.domain.requests import CreateHarnessRequest
from trainer.data.manifest import MANIFEST, ManifestError, read_manifest

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
    harness = harness_from_manifest(directory, description)
    existing = ctx.meta.get_harness(harness.id)
    if existing is not None:  # content-addressed: same id, same files
        return existing
    total = 0
    for name, expected in sorted(harness.files.items()):
        path = directory / name
        if not path.is_file():  # the manifest schema allows plain file names only
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
        ids.harness_key(harness.id, MANIFEST), (directory / MANIFEST).read_bytes()
    )
    harness.size_bytes = total
    if not ctx.meta.put_harness(harness):
        return ctx.harness(harness.id)
    log.info("harness.created", harness_id=harness.id, size_bytes=total)
    return harness


def harness_from_manifest(directory: Path, description: str) -> Harness:
    """The harness the directory's manifest describes (files not yet copied: size 0),
    checked by the one manifest schema the trainer also loads harnesses with;
    InvalidArgument naming the field that is missing or wrong."""
    try:
        manifest = read_manifest(directory)
    except ManifestError as exc:
        raise InvalidArgument(
            str(exc), details={"field": exc.field or "path", "path": str(directory)}
        ) from exc
    return Harness(
        id=manifest.harness_id,
        description=description or manifest.description,
        vocab_size=manifest.vocab_size,
        seq_len=manifest.seq_len,
        eval_tokens=manifest.eval_tokens,
        bos_token_id=manifest.bos_token_id,
        time_budget_s=manifest.time_budget_s,
        metric=manifest.metric,
        files=dict(manifest.files),
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
