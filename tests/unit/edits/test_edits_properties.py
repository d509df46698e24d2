"""Property-based tests: whatever arrives, the engine answers with a domain
error or a correct result; diffs round-trip; merging is consistent."""

from __future__ import annotations

import copy
import os

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.edits import AppliedEdit, apply_edit, merge3, unified_diff
from service.domain.errors import LoopyError
from service.domain.models import ProposeEditRequest, SearchReplaceBlock
from service.domain.patching.search_replace import apply_search_replace
from service.domain.patching.unified import apply_unified_diff

# EDITS_HYPOTHESIS_EXAMPLES=3000 for a longer hunt
FAST = settings(max_examples=int(os.environ.get("EDITS_HYPOTHESIS_EXAMPLES", "150")), deadline=None)

MINIMAL = (
    "import torch\n\n\ndef build_model(config):\n    return torch.nn.Linear(1, 1)\n\n\n"
    "def train(ctx):\n    x = 1\n    y = 2\n    pass\n"
)

# lines that make diffs collide, repeat and differ only in whitespace
LINE = st.sampled_from(
    [
        "a",
        "b",
        "c",
        "",
        "    x = 1",
        "    x = 1  ",
        "\tx = 1",
        "x\r",
        "@@ -1 +1 @@",
        "-- ",
        "+b",
        "\\",
    ]
)


@st.composite
def texts(draw: st.DrawFn) -> str:
    lines = draw(st.lists(LINE, max_size=14))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = eol.join(lines)
    if lines and draw(st.booleans()):
        text += eol
    return text


# fragments of diffs, shuffled into patches that are almost, but not quite, right
FRAGMENT = st.sampled_from(
    [
        "--- a/train.py",
        "+++ b/train.py",
        "diff --git a/train.py b/train.py",
        "@@ -1,3 +1,3 @@",
        "@@ -2 +2 @@",
        "@@ -0,0 +1 @@",
        "@@ @@",
        "@@ -99999999999 +1,2 @@",
        "@@ -1,0 +0,0 @@",
        " a",
        " b",
        "-a",
        "-b",
        "+a",
        "+z",
        "",
        " ",
        "\\ No newline at end of file",
        "-    x = 1",
        "+\tx = 2",
        " \tx = 1",
        "Binary files a and b differ",
        "@@ -3,2 +3,1 @@ def f",
    ]
)


def only_domain_errors(fn, *args):
    try:
        return fn(*args)
    except LoopyError:
        return None


@FAST
@given(source=texts(), patch=st.lists(FRAGMENT, max_size=12).map("\n".join))
def test_structured_random_patches_raise_only_domain_errors(source, patch):
    only_domain_errors(apply_unified_diff, source, patch)


@FAST
@given(source=texts(), patch=st.text(max_size=300))
def test_random_text_patches_raise_only_domain_errors(source, patch):
    only_domain_errors(apply_unified_diff, source, patch)


@FAST
@given(
    source=texts(),
    blocks=st.lists(
        st.builds(SearchReplaceBlock, search=texts() | st.text(max_size=20), replace=texts()),
        max_size=4,
    ),
)
def test_random_blocks_raise_only_domain_errors(source, blocks):
    only_domain_errors(apply_search_replace, source, blocks)


@FAST
@given(
    data=st.binary(max_size=400), codec=st.sampled_from(["replace", "surrogateescape", "ignore"])
)
def test_random_bytes_in_every_form_raise_only_domain_errors(policy, data, codec):
    text = data.decode("utf-8", errors=codec)
    requests = [
        ProposeEditRequest(full_source=text),
        ProposeEditRequest(unified_diff=text),
        ProposeEditRequest(search_replace=[SearchReplaceBlock(search=text, replace=text)]),
        ProposeEditRequest(description=text, full_source=MINIMAL + text),
    ]
    for req in requests:
        only_domain_errors(apply_edit, MINIMAL, MINIMAL, req, policy)
        only_domain_errors(apply_edit, MINIMAL + text, MINIMAL, req, policy)


@FAST
@given(base=texts(), new=texts())
def test_unified_diff_round_trips(base, new):
    patch = unified_diff(base, new)
    if base == new:
        assert patch == ""
        return
    source, notes = apply_unified_diff(base, patch)
    assert source == new
    assert notes == []


@FAST
@given(head_extra=st.lists(st.sampled_from(["import math", "# note", "z = 3"]), max_size=3))
def test_round_trip_through_apply_edit_and_rebase(policy, head_extra):
    new = MINIMAL.replace("    y = 2\n", "    y = 3\n")
    head = "".join(line + "\n" for line in head_extra) + MINIMAL
    result = apply_edit(
        MINIMAL, head, ProposeEditRequest(unified_diff=unified_diff(MINIMAL, new)), policy
    )
    assert result.source == "".join(line + "\n" for line in head_extra) + new
    assert result.rebased == (head != MINIMAL)


@FAST
@given(data=st.data(), base=texts(), x=texts())
def test_apply_edit_never_mutates_its_inputs(policy, data, base, x):
    blocks = [SearchReplaceBlock(search=base[:5] or "a", replace=x)]
    req = data.draw(
        st.sampled_from(
            [
                ProposeEditRequest(full_source=x),
                ProposeEditRequest(unified_diff=unified_diff(base, x)),
                ProposeEditRequest(search_replace=blocks),
            ]
        )
    )
    before = msgspec.json.encode(req)
    policy_before = copy.deepcopy(policy)
    result = only_domain_errors(apply_edit, base, base, req, policy)
    assert msgspec.json.encode(req) == before
    assert policy == policy_before
    assert result is None or isinstance(result, AppliedEdit)


@FAST
@given(base=texts(), x=texts())
def test_merge_with_an_unmoved_side_takes_the_other(base, x):
    assert merge3(base, x, base) == x
    assert merge3(base, base, x) == x
    assert merge3(base, x, x) == x


@FAST
@given(
    base=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=12), data=st.data()
)
def test_merge_of_disjoint_edits_contains_both(base, data):
    """Changing one line on each side, far enough apart, merges to both changes."""
    lines = [f"{word}{i}\n" for i, word in enumerate(base)]
    n = len(lines)
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, n - 1))
    ours, theirs, both = list(lines), list(lines), list(lines)
    ours[i] = both[i] = "OURS\n"
    theirs[j] = both[j] = "THEIRS\n"
    try:
        merged = merge3("".join(lines), "".join(ours), "".join(theirs))
    except LoopyError as err:
        assert abs(i - j) <= 1  # same or adjacent lines: a diff3 conflict
        assert err.details["conflict"] is True
        return
    assert merged == "".join(both)


@FAST
@given(
    haystack=st.lists(st.sampled_from("abc"), max_size=30),
    needle=st.lists(st.sampled_from("abc"), min_size=1, max_size=4),
)
def test_find_all_finds_every_run(haystack, needle):
    from service.domain.patching.text import find_all

    naive = [
        p for p in range(len(haystack) - len(needle) + 1) if haystack[p : p + len(needle)] == needle
    ]
    assert find_all(haystack, needle) == naive
