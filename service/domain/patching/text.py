"""Line handling shared by the patch formats.

A text is handled as a list of lines that keep their line ending ("x\\n",
"x\\r\\n", or a last line "x" without one), split on "\\n" only, so that joining
the list gives the text back byte for byte.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from enum import IntEnum

_TOKEN = re.compile(r"\w+|[^\w\s]")
_RATED_CHARS = 4_000
_NEAREST_TEXT_CHARS = 8_000  # cap on the text echoed back in refusal details


def split_lines(text: str) -> list[str]:
    """Lines with their endings; "".join(split_lines(t)) == t."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def strip_eol(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


def eol_of(lines: Sequence[str]) -> str:
    """The line ending most of these lines use ("\\r\\n" or "\\n")."""
    crlf = sum(1 for line in lines if line.endswith("\r\n"))
    lf = sum(1 for line in lines if line.endswith("\n")) - crlf
    return "\r\n" if crlf > lf else "\n"


class MatchLevel(IntEnum):
    """How loosely two lines may differ and still match, tightest first."""

    EXACT = 0
    TRAILING_WHITESPACE = 1  # trailing spaces/tabs and CR/LF ignored
    WHITESPACE = 2  # any run of whitespace counts as one space; indentation ignored


def line_key(line: str, level: MatchLevel) -> str:
    if level is MatchLevel.EXACT:
        return line
    if level is MatchLevel.TRAILING_WHITESPACE:
        return line.rstrip()
    return " ".join(line.split())


def find_all(haystack: Sequence[str], needle: Sequence[str]) -> list[int]:
    """Every index where `needle` (non-empty) occurs as a run of `haystack`,
    overlapping runs included. Knuth-Morris-Pratt: linear even for a file of
    identical lines."""
    m = len(needle)
    fail = [0] * m
    k = 0
    for q in range(1, m):
        while k and needle[q] != needle[k]:
            k = fail[k - 1]
        if needle[q] == needle[k]:
            k += 1
        fail[q] = k
    found = []
    k = 0
    for i, item in enumerate(haystack):
        while k and item != needle[k]:
            k = fail[k - 1]
        if item == needle[k]:
            k += 1
        if k == m:
            found.append(i - m + 1)
            k = fail[k - 1]
    return found


# Above this many lines difflib's "popular line" heuristic is switched on: it
# keeps pathological inputs (thousands of identical lines) linear-ish, at the
# price of slightly less minimal diffs. Real train.py files stay far below.
AUTOJUNK_LINES = 2_000


def matcher(a: Sequence[str], b: Sequence[str]) -> difflib.SequenceMatcher[str]:
    return difflib.SequenceMatcher(None, a, b, autojunk=max(len(a), len(b)) > AUTOJUNK_LINES)


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _tokens(line: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(line))


def nearest_text(
    file_lines: Sequence[str], wanted: Sequence[str], *, candidates: int = 8
) -> dict[str, object] | None:
    """The run of file lines most like `wanted` (for refusal details).

    A cheap linear score (equal lines count 1, others the share of their tokens
    that occur in `wanted`) picks a few windows; difflib rates those. Lines are
    compared with whitespace collapsed so indentation noise does not hide the
    right place.
    """
    m = len(wanted)
    if m == 0 or not file_lines:
        return None
    m = min(m, len(file_lines))
    file_keys = [line_key(line, MatchLevel.WHITESPACE) for line in file_lines]
    wanted_keys = [line_key(line, MatchLevel.WHITESPACE) for line in wanted]
    wanted_set = set(wanted_keys)
    wanted_tokens = frozenset(_TOKEN.findall("\n".join(wanted_keys)))
    line_scores = []
    for key in file_keys:
        if key in wanted_set:
            line_scores.append(1.0)
            continue
        tokens = _tokens(key)
        line_scores.append(0.5 * len(tokens & wanted_tokens) / len(tokens) if tokens else 0.0)
    window = sum(line_scores[:m])
    scores = [(window, 0)]
    for p in range(1, len(file_lines) - m + 1):
        window += line_scores[p + m - 1] - line_scores[p - 1]
        scores.append((window, p))
    scores.sort(key=lambda s: (-s[0], s[1]))
    # difflib is quadratic: rate at most a few thousand characters of each side
    wanted_text = "\n".join(wanted_keys)[:_RATED_CHARS]
    best_window: tuple[float, int] | None = None
    for _, p in scores[:candidates]:
        text = "\n".join(file_keys[p : p + m])[:_RATED_CHARS]
        ratio = similarity(text, wanted_text)
        if best_window is None or ratio > best_window[0]:
            best_window = (ratio, p)
    assert best_window is not None
    ratio, p = best_window
    return {
        "start_line": p + 1,
        "end_line": p + m,
        "similarity": round(ratio, 3),
        "text": "".join(file_lines[p : p + m])[:_NEAREST_TEXT_CHARS],
    }


def leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def reindent(
    sent: Sequence[str], found: Sequence[str], new_lines: Sequence[str]
) -> list[str] | None:
    """Shift `new_lines` by the indentation that `found` (file) adds to `sent` (patch).

    Returns None when the matched lines do not differ by one uniform prefix
    (then indentation is left as sent). Tabs in the patch become 4 spaces when
    the file indents with spaces.
    """
    file_uses_tabs = any(leading_ws(line).startswith("\t") for line in found)

    def norm(line: str) -> str:
        if file_uses_tabs:
            return line
        ws = leading_ws(line)
        return ws.expandtabs(4) + line[len(ws) :]

    pairs = [(norm(s), f) for s, f in zip(sent, found, strict=True) if s.strip()]
    if not pairs:
        return None
    deltas = set()
    for s, f in pairs:
        sw, fw = leading_ws(s), leading_ws(f)
        if fw.endswith(sw):
            deltas.add(("add", fw[: len(fw) - len(sw)]))
        elif sw.endswith(fw):
            deltas.add(("remove", sw[: len(sw) - len(fw)]))
        else:
            return None
    if len(deltas) != 1:
        return None
    op, prefix = deltas.pop()
    out = []
    for line in new_lines:
        line = norm(line)
        if not line.strip():
            out.append(line)
        elif op == "add":
            out.append(prefix + line)
        elif line.startswith(prefix):
            out.append(line[len(prefix) :])
        else:
            out.append(line)
    return out
