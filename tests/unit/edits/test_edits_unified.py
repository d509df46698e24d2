"""Unified diffs: the forms agents send, forgiving placement, and refusals."""

from __future__ import annotations

import pytest

from service.domain.edits import apply_edit, unified_diff
from service.domain.errors import InvalidArgument, LoopyError
from service.domain.models import ProposeEditRequest
from service.domain.patching.unified import apply_unified_diff


def lr_edit(baseline: str) -> tuple[str, str]:
    target = baseline.replace("MATRIX_LR = 0.04", "MATRIX_LR = 0.02", 1)
    assert target != baseline
    return target, unified_diff(baseline, target)


def apply(base: str, patch: str, policy, head: str | None = None):
    return apply_edit(base, head or base, ProposeEditRequest(unified_diff=patch), policy)


def refusal(base: str, patch: str, policy) -> LoopyError:
    with pytest.raises(InvalidArgument) as info:
        apply(base, patch, policy)
    return info.value


# --- forms ---------------------------------------------------------------------

SMALL = "a\nb\nc\nd\ne\nf\ng\n"


def test_headers_without_counts_mean_one_line():
    patch = "--- a/f\n+++ b/f\n@@ -2 +2 @@\n-b\n+B\n"
    assert apply_unified_diff(SMALL, patch)[0] == SMALL.replace("b\n", "B\n")


def test_no_file_headers_and_no_prefixes():
    patch = "@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n"
    assert apply_unified_diff(SMALL, patch)[0] == SMALL.replace("d\n", "D\n")


def test_several_hunks_with_git_preamble():
    new = SMALL.replace("a\n", "A\n").replace("g\n", "G\n")
    patch = "From 1234 Mon Sep 17\nSubject: tweak\n---\ndiff --git a/t b/t\nindex 1..2 100644\n"
    patch += unified_diff(SMALL, new, "a/t", "b/t").replace("@@ -1,7 +1,7 @@", "@@ -1,7 +1,7 @@")
    assert apply_unified_diff(SMALL, patch)[0] == new


def test_separate_hunks_applied_in_any_order():
    big = "".join(f"line {i}\n" for i in range(40))
    new = big.replace("line 3\n", "LINE 3\n").replace("line 33\n", "LINE 33\n")
    patch = unified_diff(big, new)
    head, h1, h2 = (
        patch.split("@@ -")[0],
        "@@ -" + patch.split("@@ -")[1],
        "@@ -" + patch.split("@@ -")[2],
    )
    assert apply_unified_diff(big, head + h2 + h1)[0] == new


def test_no_newline_at_end_of_file_both_ways():
    old, new = "x = 1\ny = 2", "x = 1\ny = 3\n"
    patch = unified_diff(old, new)
    assert "\\ No newline at end of file" in patch
    assert apply_unified_diff(old, patch)[0] == new
    back = unified_diff(new, old)
    assert apply_unified_diff(new, back)[0] == old


def test_miscounted_header_uses_the_body_and_says_so():
    patch = "@@ -2,2 +2,2 @@\n b\n-c\n+C\n d\n e\n"  # counts say 2, body has 4 old lines
    source, notes = apply_unified_diff(SMALL, patch)
    assert source == SMALL.replace("c\n", "C\n")
    assert any("did not match its body" in n for n in notes)


def test_blank_context_line_without_its_space():
    old = "def f():\n    x = 1\n\n    return x\n"
    new = old.replace("return x", "return 2 * x")
    patch = unified_diff(old, new).replace("\n \n", "\n\n")  # editors strip the lone space
    assert apply_unified_diff(old, patch)[0] == new


# --- forgiving placement on the real baseline ------------------------------------


def test_exact_diff_needs_no_notes(baseline, policy):
    target, patch = lr_edit(baseline)
    result = apply(baseline, patch, policy)
    assert result.source == target and result.notes == []


def test_shifted_line_numbers_are_an_offset(baseline, policy):
    target, patch = lr_edit(baseline)
    moved = "# header 1\n# header 2\n# header 3\n" + baseline
    result = apply(moved, patch, policy)
    assert result.source == "# header 1\n# header 2\n# header 3\n" + target
    assert any("offset +3" in n for n in result.notes), result.notes


def test_trailing_whitespace_in_the_patch_is_forgiven(baseline, policy):
    target, patch = lr_edit(baseline)
    sloppy = "\n".join(
        line + "   " if line.startswith((" ", "-")) else line for line in patch.split("\n")
    )
    result = apply(baseline, sloppy, policy)
    assert result.source == target
    assert any("whitespace" in n for n in result.notes)


def test_crlf_patch_on_lf_file(baseline, policy):
    target, patch = lr_edit(baseline)
    result = apply(baseline, patch.replace("\n", "\r\n"), policy)
    assert result.source == target  # no stray \r in the file


def test_tabs_for_spaces_are_forgiven_and_indentation_follows_the_file(baseline, policy):
    old_line = "        x = F.relu(x).square()"
    assert old_line in baseline
    target = baseline.replace("x = F.relu(x).square()", "x = F.gelu(x)", 1)
    patch = unified_diff(baseline, target)

    def tabs(line: str) -> str:
        if line[:1] not in (" ", "+", "-") or line.startswith(("---", "+++")):
            return line
        body = line[1:]
        depth = (len(body) - len(body.lstrip(" "))) // 4
        return line[0] + "\t" * depth + body[4 * depth :]

    tabbed = "\n".join(tabs(line) for line in patch.split("\n"))
    assert "+\t\tx = F.gelu(x)" in tabbed
    result = apply(baseline, tabbed, policy)
    assert result.source == target
    assert any("whitespace differences ignored" in n for n in result.notes)


def test_stale_outer_context_is_fuzzed(baseline, policy):
    target, patch = lr_edit(baseline)
    lines = patch.split("\n")
    first_context = next(i for i, line in enumerate(lines) if line.startswith(" ") and line.strip())
    lines[first_context] = " # a comment the head no longer has"
    result = apply(baseline, "\n".join(lines), policy)
    assert result.source == target
    assert any("fuzz" in n or "context line" in n for n in result.notes), result.notes


def test_stale_inner_context_and_shifted_lines(baseline, policy):
    # a hunk whose middle context line changed since, at shifted line numbers
    target = baseline.replace("EMBEDDING_LR = 0.6", "EMBEDDING_LR = 0.5", 1).replace(
        "SCALAR_LR = 0.04", "SCALAR_LR = 0.03", 1
    )
    patch = unified_diff(baseline, target)
    assert patch.count("@@ -") == 1 and " UNEMBEDDING_LR" in patch
    stale = patch.replace(" UNEMBEDDING_LR = 0.004", " UNEMBEDDING_LR = 0.008")
    moved = "# moved\n" * 5 + baseline
    result = apply(moved, stale, policy)
    assert result.source == "# moved\n" * 5 + target
    assert any("context line(s) differed" in n for n in result.notes), result.notes
    assert any("offset +5" in n for n in result.notes), result.notes


# --- refusals ------------------------------------------------------------------------


def test_removed_line_must_match(baseline, policy):
    _, patch = lr_edit(baseline)
    wrong = patch.replace("-MATRIX_LR = 0.04", "-MATRIX_LR = 0.07")
    err = refusal(baseline, wrong, policy)
    d = err.details
    assert d["format"] == "UNIFIED_DIFF" and d["hunk"] == 1 and d["reason"] == "no_match"
    assert d["hunk_header"].startswith("@@ -")
    assert any("MATRIX_LR = 0.07" in line for line in d["expected"])
    nearest = d["nearest"]
    assert "MATRIX_LR = 0.04" in nearest["text"]
    assert 0.9 < nearest["similarity"] < 1.0
    assert baseline.splitlines()[nearest["start_line"] - 1] == nearest["text"].splitlines()[0]
    assert nearest["end_line"] - nearest["start_line"] + 1 == len(d["expected"])


def test_second_hunk_failure_names_that_hunk(baseline, policy):
    target = baseline.replace("MATRIX_LR = 0.04", "MATRIX_LR = 0.02", 1).replace(
        "x = F.relu(x).square()", "x = F.gelu(x)", 1
    )
    patch = unified_diff(baseline, target).replace("-        x = F.relu", "-        x = F.silu")
    err = refusal(baseline, patch, policy)
    assert err.details["hunk"] == 2
    assert "F.relu(x).square()" in err.details["nearest"]["text"]


def test_ambiguous_placement_is_refused():
    twice = "def a():\n    pass\n\n\ndef b():\n    pass\n"
    patch = "@@ ... @@\n def b():\n-    pass\n+    return 1\n"
    assert apply_unified_diff(twice, patch)[0].endswith("return 1\n")  # unique: fine
    patch = "@@ ... @@\n-    pass\n+    return 1\n"
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(twice, patch)
    assert info.value.details["reason"] == "ambiguous"
    assert info.value.details["candidates"] == [2, 6]


def test_equally_distant_candidates_are_ambiguous_nearest_one_is_not():
    text = "x\n" + "pass\n" + "y\n" * 5 + "pass\n" + "z\n"
    # header says line 5: "pass" at lines 2 and 8, both 3 away
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(text, "@@ -5 +5 @@\n-pass\n+done\n")
    assert info.value.details["reason"] == "ambiguous"
    # header says line 3: line 2 is nearer
    source, notes = apply_unified_diff(text, "@@ -3 +3 @@\n-pass\n+done\n")
    assert source == text.replace("pass", "done", 1)
    assert notes == ["hunk 1 applied at line 2 (offset -1)"]


@pytest.mark.parametrize(
    ("patch", "line"),
    [
        ("just some text\nwith no hunk\n", 1),
        ("--- a/t\n+++ b/t\n@@ -1,x +1 @@\n-a\n+b\n", 3),
        ("--- a/t\n+++ b/t\n@@ -1 +1 @@\n-a\n+A\n@@ garbage -2 @@\n-b\n", 6),
        ("", 1),
    ],
)
def test_malformed_diff_names_the_patch_line(patch, line):
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(SMALL, patch)
    assert info.value.details["format"] == "UNIFIED_DIFF"
    assert info.value.details["line"] == line


def test_diff_touching_two_files_is_refused():
    patch = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+A\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-b\n+B\n"
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(SMALL, patch)
    assert info.value.details["files"] == ["b/x", "b/y"]


def test_binary_patch_is_refused():
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(SMALL, "diff --git a/x b/x\nBinary files a/x and b/x differ\n")
    assert "binary" in info.value.details["reason"]


def test_pure_insertion_without_context_or_line_numbers_is_refused():
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(SMALL, "@@ @@\n+new line\n")
    assert info.value.details["reason"] == "no_match"


def test_pure_insertion_by_line_number():
    source, _ = apply_unified_diff(SMALL, "@@ -0,0 +1 @@\n+# first\n")
    assert source == "# first\n" + SMALL


# --- inputs built to be slow --------------------------------------------------------


@pytest.mark.timeout(30)
def test_pathological_file_of_identical_lines_is_refused_not_hung():
    source = "x\n" * 60_000
    everywhere = "@@ @@\n x\n x\n-x\n+y\n x\n"
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(source, everywhere)
    assert info.value.details["reason"] == "ambiguous"
    assert len(info.value.details["candidates"]) <= 50
    nowhere = "@@ -5,4 +5,4 @@\n x\n x\n-z\n+y\n x\n x\n x\n"
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(source, nowhere)
    assert info.value.details["reason"] == "no_match"


@pytest.mark.timeout(30)
def test_many_hunks_over_a_large_file_hit_the_work_budget():
    source = "".join(f"line {i % 50}\n" for i in range(40_000))
    # line numbers alternately 4 too low and 4 too high: no offset carries over,
    # so every hunk is found by a search of the whole file
    patch = "".join(
        f"@@ -{50 * k + 8 + (4 if k % 2 else -4)} +1 @@\n-line 7\n+y\n" for k in range(800)
    )
    with pytest.raises(InvalidArgument) as info:
        apply_unified_diff(source, patch)
    assert info.value.details["reason"] == "too expensive"
    # the same hunks with the right line numbers are cheap
    exact = "".join(f"@@ -{50 * k + 8} +{50 * k + 8} @@\n-line 7\n+y\n" for k in range(800))
    patched, notes = apply_unified_diff(source, exact)
    assert patched.count("y\n") == 800 and notes == []


@pytest.mark.timeout(30)
def test_diffs_of_huge_repetitive_files_stay_fast():
    from service.domain.edits import diff_stats, merge3

    base = "\n" * 100_000 + "a = 1\n"
    new = "\n" * 100_000 + "a = 2\n"
    assert diff_stats(base, new).lines_added == 1
    assert apply_unified_diff(base, unified_diff(base, new))[0] == new
    assert merge3(base, new, base) == new


def test_lf_patch_on_crlf_file_keeps_crlf(baseline, policy):
    target, patch = lr_edit(baseline)
    crlf = baseline.replace("\n", "\r\n")
    result = apply(crlf, patch, policy)
    assert result.source == target.replace("\n", "\r\n")
    assert any("line ending" in n for n in result.notes)
