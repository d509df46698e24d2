"""Static checks on a proposed train.py: cheap, synchronous, explicit.

This is a first line of defence that turns obvious mistakes and obvious escape
attempts into a clear INVALID_ARGUMENT before any compute is spent. It is not a
security boundary: Python offers too many ways to reach the OS from an allowed
module (torch alone has several). The sandbox that runs the code (SPEC §4:
scrubbed env, rlimits, no network, killed process group) is the real one.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from typing import Any

from service.domain.errors import InvalidArgument, PayloadTooLarge

REQUIRED_FUNCTIONS = ("build_model", "train")
# Builtins that evaluate code or import by name, bypassing the import allow-list.
FORBIDDEN_CALLS = frozenset({"__import__", "exec", "eval", "compile", "breakpoint"})
# Names and attributes that are the usual first step of a builtins/introspection escape.
FORBIDDEN_NAMES = frozenset({"__import__", "__builtins__", "__loader__"})
FORBIDDEN_ATTRIBUTES = frozenset(
    {"__import__", "__builtins__", "__globals__", "__subclasses__", "__loader__", "import_module"}
)


def check_size(source: str, max_source_bytes: int) -> int:
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"the source is not valid UTF-8 text (character {exc.start} cannot be encoded)",
            details={"encoding": "utf-8", "position": exc.start},
        ) from None
    if size > max_source_bytes:
        raise PayloadTooLarge(
            f"the source is {size} bytes; the limit is {max_source_bytes}",
            details={"field": "source", "limit": max_source_bytes, "actual": size},
        )
    return size


def _syntax_error(message: str, line: int, column: int, end_line: int | None, text: str):
    return InvalidArgument(
        f"train.py does not parse: {message} (line {line}, column {column})",
        details={
            "syntax_error": {
                "line": line,
                "column": column,  # 1-based, as Python reports it
                "end_line": end_line,
                "message": message,
                "text": text.rstrip("\n")[:500],
            }
        },
    )


def parse(source: str) -> ast.Module:
    try:
        return ast.parse(source, filename="train.py")
    except (SyntaxError, ValueError) as exc:  # SyntaxError includes IndentationError, TabError
        if isinstance(exc, SyntaxError) and exc.lineno is not None:
            raise _syntax_error(
                exc.msg, exc.lineno, exc.offset or 0, exc.end_lineno, exc.text or ""
            ) from None
        # "source code string cannot contain null bytes" comes without a position
        at = source.find("\0")
        if at < 0:
            raise _syntax_error(str(exc), 0, 0, None, "") from None
        line_start = source.rfind("\n", 0, at) + 1
        line = source.count("\n", 0, at) + 1
        line_end = source.find("\n", at)
        text = source[line_start : line_end if line_end >= 0 else len(source)].replace("\0", "\\0")
        raise _syntax_error(str(exc), line, at - line_start + 1, line, text) from None
    except (RecursionError, MemoryError):
        raise _syntax_error("nested too deeply to parse", 0, 0, None, "") from None


def _top(module: str) -> str:
    return module.split(".", 1)[0]


class _Inspector(ast.NodeVisitor):
    def __init__(self, allowed: Collection[str], rebound: Collection[str]) -> None:
        self.allowed = allowed
        self.rebound = rebound  # e.g. `from torch import compile`: not the builtin
        self.imports: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _top(alias.name) not in self.allowed:
                self.imports.append({"module": alias.name, "line": node.lineno})
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.imports.append(
                {"module": "." * node.level + module, "line": node.lineno, "reason": "relative"}
            )
        elif _top(module) not in self.allowed:
            self.imports.append({"module": module, "line": node.lineno})
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        if name in FORBIDDEN_CALLS and (name == "__import__" or name not in self.rebound):
            entry: dict[str, Any] = {"name": name, "line": node.lineno}
            target = _constant_str(node.args[0]) if node.args else None
            if name == "__import__" and target:
                self.imports.append({"module": target, "line": node.lineno, "via": "__import__"})
            self.calls.append(entry)
        elif name == "getattr" and len(node.args) >= 2:
            attr = _constant_str(node.args[1])
            if attr in FORBIDDEN_ATTRIBUTES or attr in FORBIDDEN_CALLS:
                self.calls.append({"name": f"getattr(..., {attr!r})", "line": node.lineno})
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        # a bare reference (f = __import__; f("os")) is as good as a call
        if node.id in FORBIDDEN_NAMES and not self._reported(node):
            self.calls.append({"name": node.id, "line": node.lineno})

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self.calls.append({"name": f".{node.attr}", "line": node.lineno})
        self.generic_visit(node)

    def _reported(self, node: ast.Name) -> bool:
        return any(
            c["name"] == node.id and c["line"] == node.lineno for c in self.calls
        )


def _rebound_names(tree: ast.Module) -> set[str]:
    """Names the file binds itself by def or import (so `compile` may be torch's)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _constant_str(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def check_contract(tree: ast.Module, allowed_imports: Collection[str]) -> None:
    """build_model and train defined at module level; imports on the allow-list;
    no dynamic code evaluation or import."""
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    missing = [name for name in REQUIRED_FUNCTIONS if name not in defined]
    inspector = _Inspector(allowed_imports, _rebound_names(tree))
    inspector.visit(tree)
    details: dict[str, Any] = {}
    problems: list[str] = []
    if missing:
        details["missing"] = missing
        problems.append(
            "train.py must define " + " and ".join(f"`def {n}(...)`" for n in missing)
            + " at module level"
        )
    if inspector.imports:
        details["disallowed_imports"] = inspector.imports
        listed = ", ".join(f"{i['module']} (line {i['line']})" for i in inspector.imports[:10])
        problems.append(f"imports outside the track's allow-list: {listed}")
        details["allowed_imports"] = sorted(allowed_imports)
    if inspector.calls:
        details["disallowed_calls"] = inspector.calls
        listed = ", ".join(f"{c['name']} (line {c['line']})" for c in inspector.calls[:10])
        problems.append(f"dynamic code evaluation or import is not allowed: {listed}")
    if problems:
        raise InvalidArgument("; ".join(problems), details=details)
