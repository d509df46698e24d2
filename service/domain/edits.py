"""Proposed edits to train.py: apply a patch, rebase it onto the head, validate.

Pure functions used by `Loopy.propose_edit` (storage, content addressing and
lineage live there). Every refusal is an `InvalidArgument` (or
`PayloadTooLarge`) whose `details` say precisely what failed: the hunk or block
and the nearest text, the merge conflict, the syntax error, the missing
function or the disallowed import. The parts live in `service.domain.patching`.
"""

from __future__ import annotations

import msgspec

from service.domain.errors import InvalidArgument, PayloadTooLarge
from service.domain.models import DiffStats, PatchFormat, ProposeEditRequest
from service.domain.patching.merge import merge3
from service.domain.patching.search_replace import apply_search_replace
from service.domain.patching.text import matcher, split_lines
from service.domain.patching.unified import apply_unified_diff
from service.domain.patching.validate import check_contract, check_size, parse

__all__ = [
    "AppliedEdit",
    "EditPolicy",
    "apply_edit",
    "diff_stats",
    "merge3",
    "unified_diff",
    "validate_source",
]


class EditPolicy(msgspec.Struct, kw_only=True):
    allowed_imports: frozenset[str]  # top-level packages train.py may import
    max_source_bytes: int
    max_patch_bytes: int
    max_description_chars: int


class AppliedEdit(msgspec.Struct, kw_only=True):
    source: str  # the new train.py, applied (and merged onto the head when rebased)
    format: PatchFormat
    patch_text: str  # the patch as sent (JSON for SEARCH/REPLACE blocks)
    rebased: bool  # made on an older base and three-way merged onto the head
    notes: list[str]  # how forgiving placement was ("hunk 2 applied at line 57 (offset +3)")


def _require_text(field: str, text: str) -> None:
    """Lone surrogates cannot be stored or hashed as UTF-8: refuse them up front."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"{field} is not valid UTF-8 text (character {exc.start} cannot be encoded)",
            details={"field": field, "encoding": "utf-8", "position": exc.start},
        ) from None


def _patch_of(req: ProposeEditRequest) -> tuple[PatchFormat, str]:
    given = [
        name
        for name, value in (
            ("unified_diff", req.unified_diff),
            ("search_replace", req.search_replace),
            ("full_source", req.full_source),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidArgument(
            "give exactly one of unified_diff, search_replace or full_source"
            + (f" (got {', '.join(given)})" if given else " (got none)"),
            details={"field": "patch", "given": given},
        )
    if req.unified_diff is not None:
        _require_text("unified_diff", req.unified_diff)
        return PatchFormat.UNIFIED_DIFF, req.unified_diff
    if req.search_replace is not None:
        for i, block in enumerate(req.search_replace, start=1):
            _require_text(f"search_replace[{i}].search", block.search)
            _require_text(f"search_replace[{i}].replace", block.replace)
        return PatchFormat.SEARCH_REPLACE, msgspec.json.encode(req.search_replace).decode()
    assert req.full_source is not None
    _require_text("full_source", req.full_source)
    return PatchFormat.FULL_SOURCE, req.full_source


def apply_edit(
    base_source: str, head_source: str, req: ProposeEditRequest, policy: EditPolicy
) -> AppliedEdit:
    """Apply `req`'s patch to `base_source`; when the head has moved on from the
    base, three-way merge the result onto `head_source`; then validate."""
    _require_text("description", req.description)
    if len(req.description) > policy.max_description_chars:
        raise InvalidArgument(
            f"the description is {len(req.description)} characters; "
            f"the limit is {policy.max_description_chars}",
            details={
                "field": "description",
                "limit": policy.max_description_chars,
                "actual": len(req.description),
            },
        )
    fmt, patch_text = _patch_of(req)
    size = len(patch_text.encode("utf-8"))
    if size > policy.max_patch_bytes:
        raise PayloadTooLarge(
            f"the patch is {size} bytes; the limit is {policy.max_patch_bytes}",
            details={"field": "patch", "limit": policy.max_patch_bytes, "actual": size},
        )

    notes: list[str]
    if fmt is PatchFormat.UNIFIED_DIFF:
        assert req.unified_diff is not None
        edited, notes = apply_unified_diff(base_source, req.unified_diff)
    elif fmt is PatchFormat.SEARCH_REPLACE:
        assert req.search_replace is not None
        edited, notes = apply_search_replace(base_source, req.search_replace)
    else:
        assert req.full_source is not None
        edited, notes = req.full_source, []

    rebased = base_source != head_source
    if rebased:
        source = merge3(base_source, edited, head_source)
        notes.append("the base is not the head: the edit was rebased onto the head")
    else:
        source = edited
    if source == head_source:
        notes.append("the edit leaves the head's source unchanged")
    validate_source(source, policy)
    return AppliedEdit(
        source=source, format=fmt, patch_text=patch_text, rebased=rebased, notes=notes
    )


def validate_source(source: str, policy: EditPolicy) -> None:
    """Size, syntax, the train-file contract and the import allow-list.
    (A first line of defence only; the sandbox is the security boundary.)"""
    check_size(source, policy.max_source_bytes)
    check_contract(parse(source), policy.allowed_imports)


# --- diffs -------------------------------------------------------------------

_NO_EOL = "\\ No newline at end of file\n"


def _range(start: int, stop: int) -> str:
    """A hunk range as diff -u writes it: "12,3", "12" for one line, "11,0" for none."""
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


def _body_line(prefix: str, line: str) -> str:
    if line.endswith("\n"):
        return prefix + line
    return prefix + line + "\n" + _NO_EOL


def unified_diff(
    old: str, new: str, old_name: str = "a/train.py", new_name: str = "b/train.py"
) -> str:
    """`diff -u` output (3 context lines), "" when the texts are equal. A last line
    without a line ending is marked "\\ No newline at end of file"."""
    a, b = split_lines(old), split_lines(new)
    out: list[str] = []
    for group in matcher(a, b).get_grouped_opcodes(3):
        if not out:
            out.append(f"--- {old_name}\n+++ {new_name}\n")
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(_body_line(" ", line) for line in a[i1:i2])
                continue
            out.extend(_body_line("-", line) for line in a[i1:i2])
            out.extend(_body_line("+", line) for line in b[j1:j2])
    return "".join(out)


def diff_stats(old: str, new: str) -> DiffStats:
    a, b = split_lines(old), split_lines(new)
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher(a, b).get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return DiffStats(lines_added=added, lines_removed=removed)
