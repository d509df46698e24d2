"""A corpus of realistic edits to the real baseline train.py, in every form.

Each edit is a targeted transformation of the baseline text (so the corpus
follows small baseline changes); the patch forms are derived from it.
"""

from __future__ import annotations

import ast

import pytest

from service.domain.edits import apply_edit, diff_stats
from service.domain.models import PatchFormat, ProposeEditRequest

EDIT_NAMES = ["learning_rate", "depth", "activation", "window_pattern", "add_norm", "schedule"]


@pytest.mark.parametrize("name", EDIT_NAMES)
@pytest.mark.parametrize("form", ["git", "diff_u", "numberless"])
def test_corpus_unified_diff_applies_and_validates(
    baseline, policy, corpus_edits, diff_forms, name, form
):
    target = corpus_edits[name](baseline)
    patch = diff_forms[form](baseline, target)
    result = apply_edit(
        baseline, baseline, ProposeEditRequest(description=name, unified_diff=patch), policy
    )
    assert result.source == target
    assert result.format is PatchFormat.UNIFIED_DIFF
    assert result.patch_text == patch
    assert not result.rebased
    if form != "numberless":
        assert result.notes == []  # an exact diff needs no forgiveness


@pytest.mark.parametrize("name", EDIT_NAMES)
def test_corpus_search_replace_applies_and_validates(
    baseline, policy, corpus_edits, make_blocks, name
):
    target = corpus_edits[name](baseline)
    blocks = make_blocks(baseline, target)
    result = apply_edit(baseline, baseline, ProposeEditRequest(search_replace=blocks), policy)
    assert result.source == target
    assert result.format is PatchFormat.SEARCH_REPLACE
    assert '"search"' in result.patch_text  # the blocks as sent, in JSON


@pytest.mark.parametrize("name", EDIT_NAMES)
def test_corpus_full_source_applies_and_validates(baseline, policy, corpus_edits, name):
    target = corpus_edits[name](baseline)
    result = apply_edit(baseline, baseline, ProposeEditRequest(full_source=target), policy)
    assert result.source == target
    assert result.format is PatchFormat.FULL_SOURCE


@pytest.mark.parametrize("name", EDIT_NAMES)
def test_corpus_edit_changes_what_it_says(baseline, corpus_edits, name):
    """Guards the corpus itself: each transformation is a small real change."""
    target = corpus_edits[name](baseline)
    ast.parse(target)
    stats = diff_stats(baseline, target)
    assert 1 <= stats.lines_added <= 6
    assert stats.lines_removed <= 10


def test_corpus_edits_combined_apply_as_one_diff(baseline, policy, corpus_edits, diff_forms):
    target = baseline
    for name in EDIT_NAMES:
        target = corpus_edits[name](target)
    patch = diff_forms["git"](baseline, target)
    assert patch.count("\n@@ ") >= 5  # several hunks
    result = apply_edit(baseline, baseline, ProposeEditRequest(unified_diff=patch), policy)
    assert result.source == target


@pytest.mark.parametrize("name", EDIT_NAMES)
def test_corpus_edit_rebases_onto_a_head_that_moved_elsewhere(
    baseline, policy, corpus_edits, diff_forms, name
):
    # the head moved on with an unrelated change at the top of the file
    head = "# tuned by agent-7\n" + baseline
    target = corpus_edits[name](baseline)
    patch = diff_forms["git"](baseline, target)
    result = apply_edit(baseline, head, ProposeEditRequest(unified_diff=patch), policy)
    assert result.rebased
    assert result.source == "# tuned by agent-7\n" + target
