"""Fixtures for the edit engine tests: the real baseline, a policy, and the
corpus of realistic edits derived from the baseline text."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from service.domain.edits import EditPolicy, unified_diff
from service.domain.models import SearchReplaceBlock
from service.domain.service import DomainSettings
from trainer.baseline import baseline_source

CORPUS_DIR = Path(__file__).parent / "corpus"


def default_policy(**overrides: object) -> EditPolicy:
    settings = DomainSettings()
    # the track default: the corpus must validate under what a track gets
    fields: dict[str, object] = {
        "allowed_imports": frozenset(settings.default_allowed_imports),
        "max_source_bytes": settings.max_source_bytes,
        "max_patch_bytes": settings.max_patch_bytes,
        "max_description_chars": settings.max_description_chars,
    }
    fields.update(overrides)
    return EditPolicy(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def policy() -> EditPolicy:
    return default_policy()


@pytest.fixture(scope="session")
def baseline() -> str:
    return baseline_source()


# --- the corpus: targeted transformations of the baseline text ----------------


def _sub_once(pattern: str, repl: str | Callable[[re.Match[str]], str], text: str) -> str:
    new, n = re.subn(pattern, repl, text, count=1, flags=re.MULTILINE)
    assert n == 1, f"anchor {pattern!r} not found in the baseline"
    assert new != text
    return new


def change_learning_rate(src: str) -> str:
    def halve(m: re.Match[str]) -> str:
        return f"{m.group(1)}{float(m.group(2)) / 2:g}"

    return _sub_once(r"^(MATRIX_LR = )([0-9.eE+-]+)", halve, src)


def change_depth(src: str) -> str:
    return _sub_once(r"^(DEPTH = )[^#\n]*?(\s*#.*)?$", r"\g<1>6\g<2>", src)


def change_activation(src: str) -> str:
    mlp = re.search(r"^class MLP\b.*?(?=^\S)", src, flags=re.MULTILINE | re.DOTALL)
    assert mlp, "class MLP not found in the baseline"
    body = mlp.group(0)
    new_body, n = re.subn(r"F\.relu\((\w+)\)\.square\(\)", r"F.gelu(\1)", body)
    assert n == 1, "F.relu(x).square() not found in class MLP"
    return src[: mlp.start()] + new_body + src[mlp.end() :]


def change_window_pattern(src: str) -> str:
    def swap(m: re.Match[str]) -> str:
        return m.group(1) + ('"SL"' if m.group(2) != '"SL"' else '"L"')

    return _sub_once(r'^(WINDOW_PATTERN = )("[A-Za-z]+")', swap, src)


def add_norm(src: str) -> str:
    # an extra normalisation of each block's output
    return _sub_once(
        r"^(\s*)(x = x \+ self\.mlp\(norm\(x\)\))\n",
        r"\g<1>\g<2>\n\g<1>x = norm(x)\n",
        src,
    )


COSINE_SCHEDULE = '''def get_lr_multiplier(progress):
    """Cosine decay from the peak to FINAL_LR_FRAC over the whole budget."""
    progress = min(max(progress, 0.0), 1.0)
    return FINAL_LR_FRAC + (1.0 - FINAL_LR_FRAC) * 0.5 * (1.0 + math.cos(math.pi * progress))
'''


def swap_schedule(src: str) -> str:
    return _sub_once(
        r"^def get_lr_multiplier\(progress\):\n(?:[ \t]+.*\n|\n(?=[ \t]))*",
        COSINE_SCHEDULE,
        src,
    )


EDITS: dict[str, Callable[[str], str]] = {
    "learning_rate": change_learning_rate,
    "depth": change_depth,
    "activation": change_activation,
    "window_pattern": change_window_pattern,
    "add_norm": add_norm,
    "schedule": swap_schedule,
}


def git_style_diff(old: str, new: str) -> str:
    return "diff --git a/train.py b/train.py\nindex 3b18e51..a9c2f04 100644\n" + unified_diff(
        old, new, "a/train.py", "b/train.py"
    )


def diff_u_style(old: str, new: str) -> str:
    # `diff -u train.py.orig train.py`: no a/ b/ prefixes, time stamps after a tab
    return unified_diff(
        old,
        new,
        "train.py.orig\t2025-01-01 12:00:00.000000000 +0000",
        "train.py\t2025-01-01 12:05:00.000000000 +0000",
    )


def numberless_diff(old: str, new: str) -> str:
    # what agents often write: hunks with bare "@@ ... @@" headers
    return re.sub(r"^@@ .* @@$", "@@ ... @@", unified_diff(old, new), flags=re.MULTILINE)


def search_replace_blocks(old: str, new: str) -> list[SearchReplaceBlock]:
    """One block per changed region, with the fewest context lines that make its
    search text unique; listed bottom-up so earlier blocks do not move later ones."""
    a = old.splitlines(keepends=True)
    b = new.splitlines(keepends=True)
    blocks = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for context in range(0, 10):
            lo, hi = max(0, i1 - context), min(len(a), i2 + context)
            search = "".join(a[lo:hi])
            if search.strip() and old.count(search) == 1:
                replace = "".join(a[lo:i1] + b[j1:j2] + a[i2:hi])
                blocks.append(SearchReplaceBlock(search=search, replace=replace))
                break
        else:
            raise AssertionError("could not make a unique search block")
    return blocks[::-1]


DIFF_FORMS: dict[str, Callable[[str, str], str]] = {
    "git": git_style_diff,
    "diff_u": diff_u_style,
    "numberless": numberless_diff,
}


@pytest.fixture(scope="session")
def corpus_edits() -> dict[str, Callable[[str], str]]:
    return EDITS


@pytest.fixture(scope="session")
def diff_forms() -> dict[str, Callable[[str, str], str]]:
    return DIFF_FORMS


@pytest.fixture(scope="session")
def make_blocks() -> Callable[[str, str], list[SearchReplaceBlock]]:
    return search_replace_blocks
