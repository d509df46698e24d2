"""Unified diffs: parse what `git diff` / `diff -u` (or an agent imitating them)
write, and place each hunk on the file as forgivingly as is safe.

Placement, per hunk, stops at the first stage that finds a unique place:

1. the lines exactly where the header says (shifted by earlier hunks' offset);
2. exactly, anywhere (nearest to the expected line wins: an "offset");
3. ignoring trailing whitespace / CRLF, then ignoring all whitespace differences;
4. fuzz 1 and 2: dropping outer context lines, as GNU patch does;
5. one stale context line tolerated (the file's line is kept).

Removed lines must always match (modulo whitespace). Two equally good places
are refused as ambiguous rather than guessed.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from service.domain.errors import InvalidArgument
from service.domain.models import PatchFormat
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

_HUNK_HEADER = re.compile(r"^@@+ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@+(.*)$")
# "@@", "@@ @@", "@@ ... @@ def f():": a hunk without line numbers
_BARE_HUNK_HEADER = re.compile(r"^@@+\s*(?:\.\.\.|\u2026)?\s*(?:@@+.*)?$")
# Lines of a git/GNU diff preamble that carry nothing we need.
_SKIPPABLE = (
    "diff ",
    "index ",
    "old mode",
    "new mode",
    "new file mode",
    "deleted file mode",
    "similarity index",
    "dissimilarity index",
    "rename from",
    "rename to",
    "copy from",
    "copy to",
    "Only in ",
)
MAX_FUZZ = 2

FORMAT = PatchFormat.UNIFIED_DIFF.value


@dataclass
class HunkLine:
    op: str  # " ", "-", "+"
    text: str  # content without the line ending
    eol: bool = True  # False after "\ No newline at end of file"

    def as_line(self) -> str:
        return self.text + "\n" if self.eol else self.text


@dataclass
class Hunk:
    index: int  # 1-based
    header: str
    patch_line: int  # 1-based line of the header in the patch
    old_start: int | None  # as written; None for a bare "@@ @@" header
    old_count: int | None
    new_count: int | None
    lines: list[HunkLine] = field(default_factory=list)

    @property
    def old_lines(self) -> list[HunkLine]:
        return [line for line in self.lines if line.op != "+"]

    @property
    def changes(self) -> bool:
        return any(line.op != " " for line in self.lines)

    def expected_index(self) -> int | None:
        """0-based index in the old file where the header says the hunk starts."""
        if self.old_start is None:
            return None
        if self.old_count == 0 or not self.old_lines:
            return self.old_start  # "-12,0" means "after line 12"
        return max(self.old_start - 1, 0)


@dataclass
class FilePatch:
    old_name: str | None = None
    new_name: str | None = None
    hunks: list[Hunk] = field(default_factory=list)


def _malformed(message: str, line_no: int, text: str) -> InvalidArgument:
    return InvalidArgument(
        f"malformed unified diff at patch line {line_no}: {message}",
        details={"format": FORMAT, "line": line_no, "text": text[:200], "reason": message},
    )


def _is_body(line: str) -> bool:
    return line == "" or line[0] in " +-\\"


def _is_file_header(lines: list[str], i: int) -> bool:
    return lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def parse_unified_diff(patch: str) -> tuple[list[Hunk], list[str]]:
    """Hunks of a one-file unified diff, and parse notes (e.g. miscounted headers)."""
    raw = patch.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    files: list[FilePatch] = []
    current: FilePatch | None = None
    notes: list[str] = []
    hunk_index = 0
    i = 0
    while i < len(raw):
        line = raw[i].removesuffix("\r") if raw[i].startswith(("---", "+++", "@@")) else raw[i]
        if _is_file_header(raw, i):
            current = FilePatch(
                old_name=raw[i][4:].split("\t")[0].strip(),
                new_name=raw[i + 1][4:].split("\t")[0].strip(),
            )
            files.append(current)
            i += 2
            continue
        if line.startswith("@@"):
            hunk_index += 1
            hunk, i = _parse_hunk(raw, i, hunk_index, notes)
            if current is None:
                current = FilePatch()
                files.append(current)
            current.hunks.append(hunk)
            continue
        if line.startswith("Binary files ") or line.startswith("GIT binary patch"):
            raise _malformed("binary patches are not supported", i + 1, line)
        # anything else (git preamble, prose around the diff) is skipped,
        # as GNU patch skips leading and trailing garbage
        i += 1
    files = [f for f in files if f.hunks]
    if len(files) > 1:
        names = [f.new_name or f.old_name or "?" for f in files]
        raise InvalidArgument(
            f"the diff touches {len(files)} files ({', '.join(names)}); a revision is one file",
            details={"format": FORMAT, "files": names, "reason": "several files"},
        )
    hunks = files[0].hunks if files else []
    if not hunks:
        raise _malformed(
            "no hunk found (expected a header like '@@ -12,7 +12,8 @@')",
            1,
            raw[0] if raw else "",
        )
    return hunks, notes


def _parse_hunk(raw: list[str], i: int, index: int, notes: list[str]) -> tuple[Hunk, int]:
    header = raw[i].removesuffix("\r")
    m = _HUNK_HEADER.match(header)
    if m:
        old_start = int(m.group(1))
        old_count = int(m.group(2)) if m.group(2) is not None else 1
        new_count = int(m.group(4)) if m.group(4) is not None else 1
        hunk = Hunk(index, header, i + 1, old_start, old_count, new_count)
    elif _BARE_HUNK_HEADER.match(header):
        hunk = Hunk(index, header, i + 1, None, None, None)
    else:
        raise _malformed("bad hunk header (expected '@@ -12,7 +12,8 @@')", i + 1, header)
    i += 1
    old_seen = new_seen = 0

    def counts_met() -> bool:
        return (
            hunk.old_count is not None
            and hunk.new_count is not None
            and old_seen >= hunk.old_count
            and new_seen >= hunk.new_count
        )

    # 1) the body the header counts announce (the counts, not the look of a
    #    line, decide: a removed "-- x" line is not a file header here)
    while i < len(raw) and (not counts_met() or raw[i].startswith("\\")):
        line = raw[i]
        if line.startswith("@@") or not _is_body(line):
            break
        i = _take_body_line(hunk, raw, i)
        old_seen, new_seen = _count(hunk)
    # 2) forgive miscounted headers: keep reading while lines still look like body;
    #    trailing blank lines are then dropped (they are usually just spacing)
    j = i
    extra: list[int] = []
    while j < len(raw):
        line = raw[j]
        if line.startswith("@@") or _is_file_header(raw, j) or line.startswith("diff "):
            break
        if not _is_body(line):
            break
        if line == "-- " and (j + 1 >= len(raw) or not _is_body(raw[j + 1])):
            break  # the signature of `git format-patch`
        extra.append(j)
        j += 1
    while extra and raw[extra[-1]] == "":
        extra.pop()
    if extra:
        end = extra[-1] + 1
        while i < end:
            i = _take_body_line(hunk, raw, i)
    old_seen, new_seen = _count(hunk)
    if hunk.old_count is not None and (old_seen, new_seen) != (hunk.old_count, hunk.new_count):
        notes.append(
            f"hunk {index} header counts ({hunk.old_count} old, {hunk.new_count} new) "
            f"did not match its body ({old_seen} old, {new_seen} new); used the body"
        )
    if not hunk.lines:
        raise _malformed(f"hunk {index} has no lines", hunk.patch_line, header)
    return hunk, i


def _take_body_line(hunk: Hunk, raw: list[str], i: int) -> int:
    line = raw[i]
    if line.startswith("\\"):
        # "\ No newline at end of file": the previous line has no line ending
        if hunk.lines:
            hunk.lines[-1].eol = False
        return i + 1
    if line == "":
        hunk.lines.append(HunkLine(" ", ""))  # a blank context line whose space was stripped
    else:
        hunk.lines.append(HunkLine(line[0], line[1:]))
    return i + 1


def _count(hunk: Hunk) -> tuple[int, int]:
    old = sum(1 for line in hunk.lines if line.op != "+")
    new = sum(1 for line in hunk.lines if line.op != "-")
    return old, new


# --- placement ---------------------------------------------------------------


@dataclass
class Placement:
    hunk: Hunk
    start: int  # 0-based index in the old file of the first matched line
    lines: list[HunkLine]  # the hunk lines actually used (fuzz drops outer context)
    level: MatchLevel
    fuzz: int = 0
    lead: int = 0  # leading context lines fuzz dropped
    stale_context: int = 0  # context lines that differed (file's line kept)

    @property
    def old_len(self) -> int:
        return sum(1 for line in self.lines if line.op != "+")


class _Ambiguous(Exception):
    def __init__(self, starts: list[int]) -> None:
        self.starts = starts


# Placement work (lines compared) allowed for one patch: generous for any real
# edit, a bound for patches built to make the search quadratic.
WORK_BUDGET = 5_000_000


class _Work:
    def __init__(self) -> None:
        self.left = WORK_BUDGET

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise InvalidArgument(
                "the diff is too expensive to place (too many hunks searched over too "
                "many lines); send fewer hunks with line numbers, or full_source",
                details={"format": FORMAT, "reason": "too expensive"},
            )


class _Taken:
    """Old-file regions already claimed by placed hunks: disjoint non-empty
    [start, end) regions, and the insertion points of context-free hunks."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.points: list[int] = []

    def add(self, start: int, end: int) -> None:
        if start == end:
            bisect.insort(self.points, start)
            return
        k = bisect.bisect_left(self.starts, start)
        self.starts.insert(k, start)
        self.ends.insert(k, end)

    def overlaps(self, start: int, length: int) -> bool:
        k = bisect.bisect_right(self.starts, start)
        if length == 0:
            # an insertion may not land inside a claimed region, or where another one did
            inside = bool(k) and self.starts[k - 1] < start < self.ends[k - 1]
            return inside or start in self.points
        if k and self.ends[k - 1] > start:
            return True
        if k < len(self.starts) and self.starts[k] < start + length:
            return True
        # an insertion point strictly inside the region
        q = bisect.bisect_right(self.points, start)
        return q < len(self.points) and self.points[q] < start + length


def _pick(candidates: list[int], expected: int | None) -> int | None:
    """Nearest candidate to `expected`; ambiguity (a tie, or no expectation and
    several candidates) raises."""
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if expected is None:
        raise _Ambiguous(candidates)
    ranked = sorted(candidates, key=lambda p: abs(p - expected))
    if abs(ranked[0] - expected) == abs(ranked[1] - expected):
        raise _Ambiguous(candidates)
    return ranked[0]


def _trim(lines: list[HunkLine], fuzz: int) -> tuple[list[HunkLine], int]:
    """Drop up to `fuzz` outer context lines on each side; returns lines and how
    many leading lines went."""
    lead = 0
    while lead < fuzz and lead < len(lines) and lines[lead].op == " ":
        lead += 1
    tail = 0
    while tail < fuzz and tail < len(lines) - lead and lines[len(lines) - 1 - tail].op == " ":
        tail += 1
    return lines[lead : len(lines) - tail], lead


def _place(
    hunk: Hunk,
    keys: dict[MatchLevel, list[str]],
    expected: int | None,
    taken: _Taken,
    work: _Work,
) -> Placement | None:
    n = len(keys[MatchLevel.EXACT])
    old_all = [line.as_line() for line in hunk.old_lines]
    if not old_all:
        # pure insertion without context: only the line number can place it
        if expected is None or expected > n or taken.overlaps(expected, 0):
            return None
        return Placement(hunk, expected, hunk.lines, MatchLevel.EXACT)
    # stage 1: exactly where the header says
    if (
        expected is not None
        and keys[MatchLevel.EXACT][expected : expected + len(old_all)] == old_all
        and not taken.overlaps(expected, len(old_all))
    ):
        return Placement(hunk, expected, hunk.lines, MatchLevel.EXACT)
    # stages 2-3: anywhere, tightest matching first; then fuzz (stage 4)
    stages: list[tuple[int, MatchLevel]] = [(0, level) for level in MatchLevel]
    stages += [(f, MatchLevel.WHITESPACE) for f in range(1, MAX_FUZZ + 1)]
    for fuzz, level in stages:
        lines, lead = _trim(hunk.lines, fuzz)
        if fuzz and len(lines) == len(hunk.lines):
            continue  # no outer context to drop
        old = [line.as_line() for line in lines if line.op != "+"]
        if not old:
            continue  # fuzz must not turn a hunk into a context-free insertion
        work.spend(n + len(old))
        needle = [line_key(line, level) for line in old]
        found = [p for p in find_all(keys[level], needle) if not taken.overlaps(p, len(old))]
        start = _pick(found, None if expected is None else expected + lead)
        if start is not None:
            return Placement(hunk, start, lines, level, fuzz, lead)
    return _place_with_stale_context(hunk, keys[MatchLevel.WHITESPACE], expected, taken, work)


def _place_with_stale_context(
    hunk: Hunk, file_keys: list[str], expected: int | None, taken: _Taken, work: _Work
) -> Placement | None:
    """Removed lines all match, context lines may differ a little (e.g. a
    neighbouring line the head has since changed); the file's lines are kept."""
    old = hunk.old_lines
    context = sum(1 for line in old if line.op == " ")
    allowed = max(1, context // 4)
    if context < 2:
        return None
    needle = [line_key(line.text, MatchLevel.WHITESPACE) for line in old]
    best: list[tuple[int, int]] = []  # (mismatches, start)
    for p in range(len(file_keys) - len(old) + 1):
        if taken.overlaps(p, len(old)):
            continue
        mismatches = 0
        compared = 0
        for k, line in enumerate(old):
            compared += 1
            if file_keys[p + k] != needle[k]:
                if line.op == "-":
                    break
                mismatches += 1
                if mismatches > allowed:
                    break
        else:
            if context - mismatches >= 2:
                best.append((mismatches, p))
        work.spend(compared)
    if not best:
        return None
    fewest = min(m for m, _ in best)
    start = _pick([p for m, p in best if m == fewest], expected)
    assert start is not None
    return Placement(hunk, start, hunk.lines, MatchLevel.WHITESPACE, stale_context=fewest)


def apply_unified_diff(source: str, patch: str) -> tuple[str, list[str]]:
    """The patched source and notes on how each hunk was placed."""
    hunks, notes = parse_unified_diff(patch)
    file_lines = split_lines(source)
    keys = {level: [line_key(line, level) for line in file_lines] for level in MatchLevel}
    placements: list[Placement] = []
    taken = _Taken()
    work = _Work()
    offset = 0  # where the previous hunk landed relative to its header
    for hunk in hunks:
        if not hunk.changes:
            notes.append(f"hunk {hunk.index} changes nothing; skipped")
            continue
        expected_raw = hunk.expected_index()
        expected = (
            None if expected_raw is None else min(max(expected_raw + offset, 0), len(file_lines))
        )
        try:
            placement = _place(hunk, keys, expected, taken, work)
        except _Ambiguous as amb:
            raise _refusal(
                hunk,
                file_lines,
                f"hunk {hunk.index} ({hunk.header}) matches {len(amb.starts)} places equally "
                f"well (lines {', '.join(str(s + 1) for s in amb.starts[:10])}); "
                "add context lines or line numbers to make it unique",
                reason="ambiguous",
                candidates=[s + 1 for s in amb.starts[:50]],
            ) from None
        if placement is None:
            raise _refusal(
                hunk,
                file_lines,
                f"hunk {hunk.index} ({hunk.header}) does not match the file: "
                "its context and removed lines were not found",
                reason="no_match",
            )
        placements.append(placement)
        taken.add(placement.start, placement.start + placement.old_len)
        if expected_raw is not None:
            offset = placement.start - placement.lead - expected_raw
        notes.extend(_describe(placement, expected))
    return _splice(file_lines, placements), notes


def _describe(p: Placement, expected: int | None) -> list[str]:
    n = p.hunk.index
    notes = []
    if expected is not None and p.start - p.lead != expected:
        delta = p.start - p.lead - expected
        notes.append(f"hunk {n} applied at line {p.start + 1} (offset {delta:+d})")
    elif expected is None:
        notes.append(f"hunk {n} (no line numbers) applied at line {p.start + 1}")
    if p.level is MatchLevel.TRAILING_WHITESPACE:
        notes.append(f"trailing whitespace / line ending differences ignored in hunk {n}")
    elif p.level is MatchLevel.WHITESPACE and not p.stale_context:
        notes.append(f"whitespace differences ignored in hunk {n}")
    if p.fuzz:
        notes.append(f"hunk {n} applied with fuzz {p.fuzz} (outer context lines ignored)")
    if p.stale_context:
        notes.append(
            f"hunk {n}: {p.stale_context} context line(s) differed from the file; "
            "the file's line(s) kept"
        )
    return notes


def _splice(file_lines: list[str], placements: list[Placement]) -> str:
    out: list[str] = []
    cursor = 0
    for p in sorted(placements, key=lambda p: (p.start, p.old_len)):
        out.extend(file_lines[cursor : p.start])
        window = file_lines[p.start : p.start + p.old_len]
        out.extend(_rewrite(p, window))
        cursor = p.start + p.old_len
    out.extend(file_lines[cursor:])
    # A line that lost its ending but is no longer last would merge with the
    # next one: give it the file's line ending.
    eol = eol_of(file_lines)
    for k in range(len(out) - 1):
        if not out[k].endswith("\n"):
            out[k] += eol
    return "".join(out)


def _rewrite(p: Placement, window: list[str]) -> list[str]:
    """The new lines for a placed hunk: the file's own context lines, the patch's
    added lines (adapted to the file's line endings and indentation when the
    match was not exact)."""
    added = [line for line in p.lines if line.op == "+"]
    added_text = [line.as_line() for line in added]
    if p.level is not MatchLevel.EXACT:
        eol = eol_of(window) if window else "\n"
        sent = [strip_eol(line.text) for line in p.lines if line.op != "+"]
        found = [strip_eol(line) for line in window]
        texts = [line.text.removesuffix("\r") for line in added]
        shifted = reindent(sent, found, texts) if p.level is MatchLevel.WHITESPACE else None
        texts = shifted if shifted is not None else texts
        added_text = [t + eol if line.eol else t for t, line in zip(texts, added, strict=True)]
    out: list[str] = []
    k = 0  # index into window
    a = 0  # index into added
    for line in p.lines:
        if line.op == " ":
            out.append(window[k])
            k += 1
        elif line.op == "-":
            k += 1
        else:
            out.append(added_text[a])
            a += 1
    return out


def _refusal(
    hunk: Hunk, file_lines: list[str], message: str, *, reason: str, **extra: object
) -> InvalidArgument:
    expected = [line.text for line in hunk.old_lines]
    return InvalidArgument(
        message,
        details={
            "format": FORMAT,
            "hunk": hunk.index,
            "hunk_header": hunk.header,
            "reason": reason,
            "expected": expected,
            "nearest": nearest_text(file_lines, [line + "\n" for line in expected]),
            **extra,
        },
    )
