"""Revisions: edits are applied, validated and stored (service.domain.edits); refusals
are kept as proposals. Edits always land on the head: an edit made on any other base
is three-way merged onto the head, and the head becomes the new revision's parent."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec
import structlog

from service.domain import edits, idempotency, ids, limits
from service.domain.context import Context, require_on_track
from service.domain.decisions import ast_hash
from service.domain.errors import InvalidArgument, LoopyError, NotFound, PayloadTooLarge
from service.domain.models import (
    Page,
    PatchFormat,
    Principal,
    Proposal,
    ProposalOutcome,
    ProposeEditRequest,
    ProposeEditResult,
    Revision,
    RevisionView,
    utcnow,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")


def _require_utf8(req: ProposeEditRequest) -> None:
    """Refuse text that cannot be stored as UTF-8 (lone surrogates from in-process callers)
    before anything is recorded; JSON and protobuf transports never deliver such text."""
    texts = [req.description, req.base_revision, req.unified_diff, req.full_source]
    for block in req.search_replace or []:
        texts += [block.search, block.replace]
    for text in texts:
        if text is None:
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgument(
                "the edit contains text that is not valid UTF-8",
                details={"position": exc.start, "reason": exc.reason},
            ) from exc


def propose_edit(
    ctx: Context, principal: Principal, track_id: str, req: ProposeEditRequest
) -> ProposeEditResult:
    """Apply, validate and store (see service.domain.edits). Refusals are kept as
    proposals and raised as InvalidArgument with a machine-readable `details`."""
    track = ctx.track(track_id)
    idempotency.check_request_id(req.request_id)
    _require_utf8(req)
    proposal_id = ids.new_id("prop")
    if req.request_id:
        # Reserve the request id first: of concurrent retries exactly one does the
        # work, the others wait for its answer (one proposal, the same answer).
        winner = ctx.meta.put_request(principal.agent_id, "proposal", req.request_id, proposal_id)
        if winner != proposal_id:
            replay = _replay_proposal(ctx, winner)
            if replay is not None:
                return replay
            # The first call died before storing anything: do its work under its id.
            proposal_id = winner

    given = [
        fmt
        for fmt, value in (
            (PatchFormat.UNIFIED_DIFF, req.unified_diff),
            (PatchFormat.SEARCH_REPLACE, req.search_replace),
            (PatchFormat.FULL_SOURCE, req.full_source),
        )
        if value is not None
    ]
    fmt = given[0] if given else PatchFormat.FULL_SOURCE
    now = utcnow()
    proposal = Proposal(
        id=proposal_id,
        track_id=track.id,
        author_agent_id=principal.agent_id,
        base_revision=req.base_revision or track.head_revision,
        head_revision_at_proposal=track.head_revision,
        format=fmt,
        # Kept to the limit so a refused oversize patch still leaves a trace.
        patch=_patch_text(req, fmt)[: ctx.settings.max_patch_bytes],
        description=req.description[: ctx.settings.max_description_chars],
        outcome=ProposalOutcome.REJECTED,
        revision_id=None,
        rejection_message=None,
        rejection_details=None,
        create_time=now,
        request_id=req.request_id,
    )
    try:
        base = ctx.meta.get_revision(proposal.base_revision)
        if base is None:
            raise NotFound(
                f"base revision {proposal.base_revision!r} not found",
                details={"field": "base_revision", "revision_id": proposal.base_revision},
            )
        require_on_track(base, track, "base_revision", "base revision")
        head = base if base.id == track.head_revision else ctx.revision(track.head_revision)
        applied = edits.apply_edit(base.source, head.source, req, limits.edit_policy(ctx, track))
    except LoopyError as err:
        err.details.setdefault("proposal_id", proposal.id)
        proposal.rejection_message = err.message
        proposal.rejection_details = {"code": err.code.value, **err.details}
        ctx.meta.put_proposal(proposal)
        log.info("proposal.refused", track_id=track.id, reason=err.message)
        raise

    source = applied.source
    parent = head if applied.rebased else base
    rev_id = ids.revision_id(source)
    revision = ctx.meta.get_revision(rev_id)
    already_exists = revision is not None
    if revision is None:
        candidate = Revision(
            id=rev_id,
            track_id=track.id,
            parent_id=parent.id,
            author_agent_id=principal.agent_id,
            description=req.description.strip(),
            source=source,
            diff_to_parent=edits.unified_diff(parent.source, source),
            stats=edits.diff_stats(parent.source, source),
            rebased=applied.rebased,
            # Equal to the proposal's time: a replay tells "made here" by it.
            create_time=now,
            ast_hash=ast_hash(source),
        )
        if ctx.meta.put_revision(candidate):
            revision = candidate
        else:  # a concurrent proposal stored the same source first
            revision = ctx.revision(rev_id)
            already_exists = True
    proposal.outcome = ProposalOutcome.ACCEPTED
    proposal.revision_id = rev_id
    ctx.meta.put_proposal(proposal)
    log.info("revision.proposed", track_id=track.id, revision_id=rev_id, existed=already_exists)
    return ProposeEditResult(
        revision=revision,
        proposal_id=proposal.id,
        already_exists=already_exists,
        rebased=applied.rebased,
        existing_run_ids=ctx.run_ids_of_revision(rev_id) if already_exists else [],
        notes=list(applied.notes),
        equivalent_to=equivalents(ctx, track.id, revision),
    )


def revision_ast_hash(revision: Revision) -> str:
    return revision.ast_hash or ast_hash(revision.source)


def equivalents(ctx: Context, track_id: str, revision: Revision) -> list[str]:
    """Other revisions of the track with the same behaviour (same AST without comments,
    docstrings and formatting), oldest first."""
    wanted = revision_ast_hash(revision)
    if not wanted:
        return []
    found: list[str] = []
    token = ""
    while True:
        page, token = ctx.meta.list_revisions(track_id, None, 1000, token)
        found += [r.id for r in page if r.id != revision.id and revision_ast_hash(r) == wanted]
        if not token:
            return found


def _patch_text(req: ProposeEditRequest, fmt: PatchFormat) -> str:
    if fmt is PatchFormat.UNIFIED_DIFF:
        return req.unified_diff or ""
    if fmt is PatchFormat.SEARCH_REPLACE:
        return msgspec.json.encode(req.search_replace or []).decode()
    return req.full_source or ""


def _replay_proposal(ctx: Context, proposal_id: str) -> ProposeEditResult | None:
    proposal = idempotency.await_resource(
        ctx.meta.get_proposal, proposal_id, idempotency.REQUEST_WAIT_S
    )
    if proposal is None:
        return None
    if proposal.outcome is ProposalOutcome.REJECTED or proposal.revision_id is None:
        details = dict(proposal.rejection_details or {})
        code = details.pop("code", None)
        message = proposal.rejection_message or "the proposal was refused"
        error_type: type[LoopyError] = {
            "NOT_FOUND": NotFound,
            "PAYLOAD_TOO_LARGE": PayloadTooLarge,
        }.get(str(code), InvalidArgument)
        raise error_type(message, details=details)
    revision = ctx.revision(proposal.revision_id)
    already_exists = revision.create_time != proposal.create_time
    return ProposeEditResult(
        revision=revision,
        proposal_id=proposal.id,
        already_exists=already_exists,
        rebased=revision.rebased and not already_exists,
        existing_run_ids=ctx.run_ids_of_revision(revision.id) if already_exists else [],
        equivalent_to=equivalents(ctx, proposal.track_id, revision),
    )


def get_revision(ctx: Context, principal: Principal, revision_id: str) -> RevisionView:
    revision = ctx.revision(revision_id)
    track = ctx.meta.get_track(revision.track_id)
    baseline = ctx.meta.get_revision(track.baseline_revision) if track else None
    baseline_source = baseline.source if baseline else revision.source
    return RevisionView(
        revision=revision,
        diff_to_baseline=edits.unified_diff(baseline_source, revision.source),
        stats_to_baseline=edits.diff_stats(baseline_source, revision.source),
        children=ctx.meta.list_children(revision.id),
        run_ids=ctx.run_ids_of_revision(revision.id),
        equivalent_to=equivalents(ctx, revision.track_id, revision),
    )


def list_revisions(
    ctx: Context,
    principal: Principal,
    track_id: str,
    author_agent_id: str | None,
    page_size: int | None,
    page_token: str,
) -> Page[Revision]:
    return _by_author(
        ctx, ctx.meta.list_revisions, track_id, author_agent_id, page_size, page_token
    )


def list_proposals(
    ctx: Context,
    principal: Principal,
    track_id: str,
    author_agent_id: str | None,
    page_size: int | None,
    page_token: str,
) -> Page[Proposal]:
    return _by_author(
        ctx, ctx.meta.list_proposals, track_id, author_agent_id, page_size, page_token
    )


def _by_author(
    ctx: Context,
    list_page: Callable[[str, str | None, int, str], tuple[list[T], str]],
    track_id: str,
    author_agent_id: str | None,
    page_size: int | None,
    page_token: str,
) -> Page[T]:
    """A page of a track's revisions or proposals, of one author when one is given."""
    ctx.track(track_id)
    items, token = list_page(
        track_id, author_agent_id or None, ctx.page_size(page_size), page_token
    )
    return Page(items=items, next_page_token=token)
