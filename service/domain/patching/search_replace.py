"""SEARCH/REPLACE blocks (the aider-style edit format).

Each block's search text must occur exactly once in the text as edited by the
blocks before it. Matching tries, in order: the exact text; whole lines with
whitespace at line ends (and CR/LF) ignored; whole lines shifted by one uniform
indentation (the replacement is shifted the same way). Zero or several
occurrences are refused, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.domain.errors import InvalidArgument
from service.domain.models import PatchFormat, SearchReplaceBlock
from service.domain.patching.text import (
    MatchLevel,
    eol_of,
    find_all,
    line_key,
    nearest_text,
    reindent,
    split_lines,
    strip_eol,
)

FORMAT = PatchFormat.SEARCH_REPLACE.value


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# Lines scanned by the whitespace-tolerant stages for one request: plenty for
# real edits, a bound for requests built to be slow.
WORK_BUDGET = 5_000_000
MAX_LISTED = 20  # occurrences listed in an ambiguity refusal (searching stops there)


def _exact_occurrences(text: str, search: str) -> list[int]:
    found: list[int] = []
    at = text.find(search)
    while at != -1 and len(found) < MAX_LISTED:
        found.append(at)
        at = text.find(search, at + 1)
    return found


def apply_search_replace(
    source: str, blocks: Sequence[SearchReplaceBlock]
) -> tuple[str, list[str]]:
    if not blocks:
        raise InvalidArgument(
            "search_replace has no blocks",
            details={"format": FORMAT, "reason": "no blocks"},
        )
    text = source
    notes: list[str] = []
    budget = [WORK_BUDGET]
    for index, block in enumerate(blocks, start=1):
        text = _apply_block(text, block, index, notes, budget)
    return text, notes


def _apply_block(
    text: str, block: SearchReplaceBlock, index: int, notes: list[str], budget: list[int]
) -> str:
    search, replace = block.search, block.replace
    if not search.strip():
        raise InvalidArgument(
            f"block {index}: the search text is empty; "
            "quote the lines to change (use full_source to replace the whole file)",
            details={"format": FORMAT, "block": index, "reason": "empty search"},
        )
    exact = _exact_occurrences(text, search)
    if len(exact) == 1:
        at = exact[0]
        return text[:at] + replace + text[at + len(search) :]
    if len(exact) > 1:
        spans = [
            (_line_of(text, at), _line_of(text, at + len(search.rstrip("\n")))) for at in exact
        ]
        raise _ambiguous(index, spans)

    lines = split_lines(text)
    budget[0] -= 2 * len(lines) + len(search)
    if budget[0] < 0:
        raise InvalidArgument(
            f"block {index}: the blocks are too expensive to match (too many inexact "
            "blocks over too many lines); quote the text exactly, or send full_source",
            details={"format": FORMAT, "block": index, "reason": "too expensive"},
        )
    wanted = [strip_eol(line) for line in split_lines(search)]
    # ignore blank lines the agent put around the search text
    while wanted and not wanted[0].strip():
        wanted.pop(0)
    while wanted and not wanted[-1].strip():
        wanted.pop()
    replacement = [strip_eol(line) for line in split_lines(replace)]

    for level in (MatchLevel.TRAILING_WHITESPACE, MatchLevel.WHITESPACE):
        keys = [line_key(line, level) for line in lines]
        needle = [line_key(line, level) for line in wanted]
        starts = find_all(keys, needle)
        if level is MatchLevel.WHITESPACE and len(starts) <= MAX_LISTED:
            # only a uniform indentation shift is safe to carry over to the replacement
            starts = [
                p
                for p in starts
                if reindent(wanted, [strip_eol(x) for x in lines[p : p + len(wanted)]], [])
                is not None
            ]
        if len(starts) > 1:
            raise _ambiguous(index, [(p + 1, p + len(wanted)) for p in starts])
        if len(starts) == 1:
            p = starts[0]
            window = lines[p : p + len(wanted)]
            new = replacement
            if level is MatchLevel.WHITESPACE:
                shifted = reindent(wanted, [strip_eol(x) for x in window], replacement)
                new = shifted if shifted is not None else replacement
                notes.append(f"indentation differences ignored in block {index}")
            else:
                notes.append(f"whitespace at line ends ignored in block {index}")
            eol = eol_of(window)
            # the last matched line keeps its own ending (none at the end of a file)
            last_eol = window[-1][len(strip_eol(window[-1])) :]
            new_lines = [line + eol for line in new[:-1]]
            if new:
                new_lines.append(new[-1] + last_eol)
            return "".join(lines[:p] + new_lines + lines[p + len(wanted) :])

    raise InvalidArgument(
        f"block {index}: the search text was not found in the file",
        details={
            "format": FORMAT,
            "block": index,
            "reason": "no_match",
            "search": search,
            "nearest": nearest_text(lines, [line + "\n" for line in wanted]),
        },
    )


def _ambiguous(index: int, spans: list[tuple[int, int]]) -> InvalidArgument:
    where = ", ".join(f"line {a}" if a == b else f"lines {a}-{b}" for a, b in spans[:10])
    return InvalidArgument(
        f"block {index}: the search text occurs {len(spans)}"
        f"{'+' if len(spans) >= MAX_LISTED else ''} times ({where}); "
        "include more surrounding lines so it occurs once",
        details={
            "format": FORMAT,
            "block": index,
            "reason": "ambiguous",
            "occurrences": [{"start_line": a, "end_line": b} for a, b in spans[:MAX_LISTED]],
        },
    )
