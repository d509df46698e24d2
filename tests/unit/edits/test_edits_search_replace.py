"""SEARCH/REPLACE blocks: unique matches, tolerated whitespace, refusals."""

from __future__ import annotations

import pytest

from service.domain.edits import apply_edit
from service.domain.errors import InvalidArgument
from service.domain.models import ProposeEditRequest, SearchReplaceBlock
from service.domain.patching.search_replace import apply_search_replace


def blocks(*pairs: tuple[str, str]) -> list[SearchReplaceBlock]:
    return [SearchReplaceBlock(search=s, replace=r) for s, r in pairs]


def refuse(source: str, *pairs: tuple[str, str]) -> dict:
    with pytest.raises(InvalidArgument) as info:
        apply_search_replace(source, blocks(*pairs))
    return info.value.details


def test_blocks_apply_in_order_on_the_edited_text():
    source, notes = apply_search_replace(
        "a = 1\nb = 2\n", blocks(("a = 1", "a = 3"), ("a = 3\nb", "c"))
    )
    assert source == "c = 2\n"
    assert notes == []


def test_whitespace_at_line_ends_is_tolerated(baseline, policy):
    search = "    def forward(self, x):   \n        x = self.c_fc(x)\t\n"
    assert search not in baseline
    replace = "    def forward(self, x):\n        x = self.c_fc(x) * 2\n"
    result = apply_edit(
        baseline, baseline, ProposeEditRequest(search_replace=blocks((search, replace))), policy
    )
    assert "        x = self.c_fc(x) * 2\n        x = F.relu" in result.source
    assert result.notes == ["whitespace at line ends ignored in block 1"]


def test_crlf_search_on_lf_file():
    source, _ = apply_search_replace("x = 1\ny = 2\n", blocks(("x = 1\r\ny = 2\r\n", "x = 5\r\n")))
    assert source == "x = 5\n"


def test_uniform_indentation_shift_is_carried_to_the_replacement():
    src = "class A:\n    def f(self):\n        return 1\n"
    out, notes = apply_search_replace(
        src, blocks(("def f(self):\n    return 1\n", "def f(self):\n    return 2\n"))
    )
    assert out == "class A:\n    def f(self):\n        return 2\n"
    assert notes == ["indentation differences ignored in block 1"]


def test_not_found_gives_the_nearest_text(baseline):
    d = refuse(baseline, ("MATRIX_LR = 0.05  # Muon, for the 2-D weights inside the blocks", "x"))
    assert d["format"] == "SEARCH_REPLACE" and d["block"] == 1 and d["reason"] == "no_match"
    nearest = d["nearest"]
    assert nearest["text"].startswith("MATRIX_LR = 0.04")
    assert nearest["start_line"] == nearest["end_line"]
    assert baseline.splitlines()[nearest["start_line"] - 1].startswith("MATRIX_LR = 0.04")
    assert 0.9 < nearest["similarity"] < 1


def test_second_block_failure_names_block_two():
    d = refuse("a\nb\n", ("a", "A"), ("zzz", "y"))
    assert d["block"] == 2


def test_several_occurrences_are_listed(baseline):
    d = refuse(baseline, ("x = x + self.mlp(norm(x))\n", "x = x + self.mlp(x)\n"), ("norm(x)", "x"))
    assert d["block"] == 2 and d["reason"] == "ambiguous"
    lines = [o["start_line"] for o in d["occurrences"]]
    assert len(lines) >= 3
    for n in lines:
        assert "norm(x)" in baseline.splitlines()[n - 1]


def test_several_occurrences_with_whitespace_tolerance_too():
    d = refuse("x = 1  \ny = 2\nx = 1\t\n", ("x = 1\n", "x = 9\n"))
    assert d["reason"] == "ambiguous"
    assert d["occurrences"] == [{"start_line": 1, "end_line": 1}, {"start_line": 3, "end_line": 3}]


@pytest.mark.parametrize("search", ["", "   \n\t\n"])
def test_empty_search_is_refused(search):
    d = refuse("a\n", (search, "b"))
    assert d["reason"] == "empty search"


def test_no_blocks_is_refused():
    with pytest.raises(InvalidArgument) as info:
        apply_search_replace("a\n", [])
    assert info.value.details["reason"] == "no blocks"


def test_replacement_without_final_newline_keeps_lines_apart():
    out, _ = apply_search_replace("a  \nb\n", blocks(("a\n", "A")))
    assert out == "A\nb\n"


@pytest.mark.timeout(30)
def test_requests_built_to_be_slow_are_refused():
    source = "x = 1\n" * 30_000
    d = refuse(source, ("x = 1\n", "y\n"))
    assert d["reason"] == "ambiguous" and len(d["occurrences"]) == 20
    # every block needs the whitespace-tolerant (line by line) stage
    source = "".join(f"v{i} = 1\n" for i in range(30_000))
    many = [SearchReplaceBlock(search=f"v{i} = 1  \n", replace=f"w{i} = 1\n") for i in range(2_000)]
    with pytest.raises(InvalidArgument) as info:
        apply_search_replace(source, many)
    assert info.value.details["reason"] == "too expensive"
    assert 1 < info.value.details["block"] < 2_000
    # a few such blocks are fine
    out, notes = apply_search_replace(source, many[:3])
    assert out.startswith("w0 = 1\nw1 = 1\nw2 = 1\nv3 = 1\n") and len(notes) == 3
