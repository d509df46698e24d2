"""Static checks on a proposed train.py: cheap, synchronous, explicit.

This is a first line of defence that turns obvious mistakes and obvious escape
attempts into a clear INVALID_ARGUMENT before any compute is spent. It is not a
security boundary: Python offers too many ways to reach the OS from an allowed
module (torch alone has several). The sandbox that runs the code (SPEC §4:
scrubbed env, rlimits, no network, killed process group) is the real one.
"""

from __future__ import annotations

import ast
import threading
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


def _syntax_error(
    message: str, line: int, column: int, end_line: int | None, text: str
) -> InvalidArgument:
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


# CPython 3.11's parser keeps recursion bookkeeping that concurrent parses in
# threads can corrupt ("SystemError: AST constructor recursion depth mismatch"):
# one parse at a time (a parse of a 200 KB file takes milliseconds).
_PARSE_LOCK = threading.Lock()


def parse(source: str) -> ast.Module:
    try:
        with _PARSE_LOCK:
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


def _constant_str(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _inspect(
    tree: ast.Module, allowed: Collection[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(disallowed imports, disallowed calls/names), in one walk over the tree."""
    imports: list[dict[str, Any]] = []
    calls: list[tuple[str, int, str | None]] = []  # (name, line, builtin it must be)
    rebound: set[str] = set()  # names the file binds itself (`from torch import compile`)
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Import:
            assert isinstance(node, ast.Import)
            for alias in node.names:
                rebound.add((alias.asname or alias.name).split(".")[0])
                if _top(alias.name) not in allowed:
                    imports.append({"module": alias.name, "line": node.lineno})
        elif kind is ast.ImportFrom:
            assert isinstance(node, ast.ImportFrom)
            rebound.update(alias.asname or alias.name for alias in node.names)
            module = node.module or ""
            if node.level:
                imports.append(
                    {"module": "." * node.level + module, "line": node.lineno, "reason": "relative"}
                )
            elif _top(module) not in allowed:
                imports.append({"module": module, "line": node.lineno})
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.ClassDef:
            rebound.add(node.name)  # type: ignore[attr-defined]
        elif kind is ast.Call:
            assert isinstance(node, ast.Call)
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                calls.append((func.id, node.lineno, func.id))
                target = _constant_str(node.args[0]) if node.args else None
                if func.id == "__import__" and target:
                    imports.append({"module": target, "line": node.lineno, "via": "__import__"})
            elif isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
                attr = _constant_str(node.args[1])
                if attr in FORBIDDEN_ATTRIBUTES or attr in FORBIDDEN_CALLS:
                    calls.append((f"getattr(..., {attr!r})", node.lineno, None))
        elif kind is ast.Name:
            assert isinstance(node, ast.Name)
            # a bare reference (f = __import__; f("os")) is as good as a call
            if node.id in FORBIDDEN_NAMES:
                calls.append((node.id, node.lineno, None))
        elif kind is ast.Attribute:
            assert isinstance(node, ast.Attribute)
            if node.attr in FORBIDDEN_ATTRIBUTES:
                calls.append((f".{node.attr}", node.lineno, None))
    seen: set[tuple[str, int]] = set()
    reported = []
    for name, line, builtin in sorted(calls, key=lambda c: c[1]):
        if builtin and builtin != "__import__" and builtin in rebound:
            continue  # e.g. torch's compile, not the builtin
        if (name, line) not in seen:
            seen.add((name, line))
            reported.append({"name": name, "line": line})
    imports.sort(key=lambda i: i["line"])
    return imports, reported


def check_contract(tree: ast.Module, allowed_imports: Collection[str]) -> None:
    """build_model and train defined at module level; imports on the allow-list;
    no dynamic code evaluation or import."""
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    missing = [name for name in REQUIRED_FUNCTIONS if name not in defined]
    disallowed_imports, disallowed_calls = _inspect(tree, allowed_imports)
    details: dict[str, Any] = {}
    problems: list[str] = []
    if missing:
        details["missing"] = missing
        problems.append(
            "train.py must define "
            + " and ".join(f"`def {n}(...)`" for n in missing)
            + " at module level"
        )
    if disallowed_imports:
        details["disallowed_imports"] = disallowed_imports
        listed = ", ".join(f"{i['module']} (line {i['line']})" for i in disallowed_imports[:10])
        problems.append(f"imports outside the track's allow-list: {listed}")
        details["allowed_imports"] = sorted(allowed_imports)
    if disallowed_calls:
        details["disallowed_calls"] = disallowed_calls
        listed = ", ".join(f"{c['name']} (line {c['line']})" for c in disallowed_calls[:10])
        problems.append(f"dynamic code evaluation or import is not allowed: {listed}")
    if problems:
        raise InvalidArgument("; ".join(problems), details=details)
