"""Three-way merge (rebase of an edit made on an old base onto the head)."""

from __future__ import annotations

import pytest

from service.domain.edits import apply_edit, merge3, unified_diff
from service.domain.errors import InvalidArgument
from service.domain.models import ProposeEditRequest

BASE = "".join(f"line {i}\n" for i in range(1, 21))


def test_non_overlapping_changes_merge():
    ours = BASE.replace("line 3\n", "line three\n")
    theirs = BASE.replace("line 15\n", "line fifteen\n").replace("line 20\n", "")
    assert merge3(BASE, ours, theirs) == theirs.replace("line 3\n", "line three\n")


def test_insertions_and_deletions_on_both_sides():
    ours = BASE.replace("line 2\n", "").replace("line 10\n", "line 10\nextra\n")
    theirs = "header\n" + BASE.replace("line 17\n", "")
    expected = "header\n" + BASE.replace("line 2\n", "").replace(
        "line 10\n", "line 10\nextra\n"
    ).replace("line 17\n", "")
    assert merge3(BASE, ours, theirs) == expected


def test_identical_changes_are_not_conflicts():
    both = BASE.replace("line 7\n", "seven\n")
    assert merge3(BASE, both, both) == both


def test_overlapping_changes_conflict_with_the_lines():
    ours = BASE.replace("line 7\n", "ours 7\n")
    theirs = BASE.replace("line 7\n", "theirs 7\nmore\n")
    with pytest.raises(InvalidArgument) as info:
        merge3(BASE, ours, theirs)
    d = info.value.details
    assert d["conflict"] is True
    assert d["conflicts"] == [
        {
            "base_lines": [7, 7],
            "base": ["line 7"],
            "ours": ["ours 7"],
            "theirs": ["theirs 7", "more"],
        }
    ]


def test_insertions_at_the_same_place_conflict():
    ours = BASE.replace("line 5\n", "line 5\nA\n")
    theirs = BASE.replace("line 5\n", "line 5\nB\n")
    with pytest.raises(InvalidArgument) as info:
        merge3(BASE, ours, theirs)
    (conflict,) = info.value.details["conflicts"]
    assert conflict["base_lines"] == [6, 5]  # an insertion before base line 6
    assert conflict["ours"] == ["A"] and conflict["theirs"] == ["B"]


def test_diff_against_old_base_rebased_onto_moved_head(baseline, policy):
    # the agent edited an older revision (the baseline); the head has since
    # changed the activation; the agent's change is to the learning rate
    head = baseline.replace("x = F.relu(x).square()", "x = F.gelu(x)", 1)
    edited = baseline.replace("MATRIX_LR = 0.04", "MATRIX_LR = 0.02", 1)
    patch = unified_diff(baseline, edited)
    result = apply_edit(baseline, head, ProposeEditRequest(unified_diff=patch), policy)
    assert result.rebased
    assert result.source == head.replace("MATRIX_LR = 0.04", "MATRIX_LR = 0.02", 1)
    assert any("rebased" in n for n in result.notes)


def test_true_conflict_is_refused_with_the_conflicting_lines(baseline, policy):
    head = baseline.replace("MATRIX_LR = 0.04", "MATRIX_LR = 0.05", 1)
    edited = baseline.replace("MATRIX_LR = 0.04", "MATRIX_LR = 0.02", 1)
    with pytest.raises(InvalidArgument) as info:
        apply_edit(baseline, head, ProposeEditRequest(full_source=edited), policy)
    d = info.value.details
    assert d["conflict"] is True
    (conflict,) = d["conflicts"]
    line = next(i for i, t in enumerate(baseline.splitlines(), 1) if t.startswith("MATRIX_LR"))
    assert conflict["base_lines"] == [line, line]
    assert conflict["ours"][0].startswith("MATRIX_LR = 0.02")
    assert conflict["theirs"][0].startswith("MATRIX_LR = 0.05")


def test_rebase_is_checked_after_merge(baseline, policy):
    """A clean merge whose result breaks the contract is still refused."""
    head = baseline.replace("import math\n", "", 1)  # head dropped an unused-looking import
    edited = baseline.replace("import time\n", "import time\nimport socket\n", 1)
    with pytest.raises(InvalidArgument) as info:
        apply_edit(baseline, head, ProposeEditRequest(full_source=edited), policy)
    assert info.value.details["disallowed_imports"][0]["module"] == "socket"
