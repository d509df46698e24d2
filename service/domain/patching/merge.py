"""Three-way merge of line lists, diff3 style, on difflib's matching blocks.

`ours` is the proposed edit (made on `base`), `theirs` is the track head that
moved on since. Base lines that both sides kept unchanged are *sync* regions;
between two of them each side either kept the base, or changed it. A region
changed on one side only takes that side; changed identically on both takes
it once; changed differently on both is a conflict. As in diff3 and git,
changes that touch adjacent lines count as overlapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.domain.errors import InvalidArgument
from service.domain.patching.text import matcher, split_lines, strip_eol


def _matching_blocks(base: Sequence[str], other: Sequence[str]) -> list[tuple[int, int, int]]:
    return [(m.a, m.b, m.size) for m in matcher(base, other).get_matching_blocks()]


def _sync_regions(
    base: Sequence[str], ours: Sequence[str], theirs: Sequence[str]
) -> list[tuple[int, int, int, int, int, int]]:
    """(base_start, base_end, ours_start, ours_end, theirs_start, theirs_end) of
    runs unchanged on both sides, ending with an empty region at the ends."""
    a_blocks = _matching_blocks(base, ours)
    b_blocks = _matching_blocks(base, theirs)
    regions = []
    ia = ib = 0
    while ia < len(a_blocks) and ib < len(b_blocks):
        a_base, a_other, a_len = a_blocks[ia]
        b_base, b_other, b_len = b_blocks[ib]
        lo = max(a_base, b_base)
        hi = min(a_base + a_len, b_base + b_len)
        if lo < hi:
            ours_start = a_other + (lo - a_base)
            theirs_start = b_other + (lo - b_base)
            regions.append(
                (lo, hi, ours_start, ours_start + hi - lo, theirs_start, theirs_start + hi - lo)
            )
        if a_base + a_len < b_base + b_len:
            ia += 1
        else:
            ib += 1
    regions.append((len(base), len(base), len(ours), len(ours), len(theirs), len(theirs)))
    return regions


def merge3_lines(
    base: Sequence[str], ours: Sequence[str], theirs: Sequence[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Merged lines and the conflicts (empty when the merge is clean)."""
    merged: list[str] = []
    conflicts: list[dict[str, Any]] = []
    i_base = i_ours = i_theirs = 0
    for z_base, z_end, z_ours, z_ours_end, z_theirs, z_theirs_end in _sync_regions(
        base, ours, theirs
    ):
        base_part = base[i_base:z_base]
        ours_part = ours[i_ours:z_ours]
        theirs_part = theirs[i_theirs:z_theirs]
        if base_part or ours_part or theirs_part:
            if ours_part == theirs_part or theirs_part == base_part:
                merged.extend(ours_part)
            elif ours_part == base_part:
                merged.extend(theirs_part)
            else:
                conflicts.append(
                    {
                        # 1-based, inclusive; an insertion between lines n-1 and n is [n, n-1]
                        "base_lines": [i_base + 1, z_base],
                        "base": [strip_eol(line) for line in base_part],
                        "ours": [strip_eol(line) for line in ours_part],
                        "theirs": [strip_eol(line) for line in theirs_part],
                    }
                )
                merged.extend(ours_part)
        merged.extend(base[z_base:z_end])
        i_base, i_ours, i_theirs = z_end, z_ours_end, z_theirs_end
    return merged, conflicts


def merge3(base: str, ours: str, theirs: str) -> str:
    """Apply the change base -> ours onto theirs; InvalidArgument on a conflict."""
    merged, conflicts = merge3_lines(split_lines(base), split_lines(ours), split_lines(theirs))
    if conflicts:
        where = ", ".join(
            f"base lines {c['base_lines'][0]}-{c['base_lines'][1]}" for c in conflicts[:5]
        )
        raise InvalidArgument(
            f"the edit conflicts with changes made on the head since its base ({where}); "
            "re-base the edit on the current head",
            details={
                "conflict": True,
                "conflicts": conflicts,
                "sides": {"ours": "the proposed edit", "theirs": "the current head"},
            },
        )
    return "".join(merged)
