"""The demo harness: real text that every machine with Python already has.

Corpus: the `.py` sources of this Python's standard library (code, comments, docstrings and
the reference documentation in `pydoc_data/topics.py`), test suites and third-party packages
excluded, files in sorted path order. Each file is cut before its top-level and class-level
`def`/`class`/decorator lines and the pieces are joined into documents of up to about
DOC_CHARS characters, so most documents fit a few hundred tokens: the packer wastes little
and a tiny model sees whole functions. Same Python version (same stdlib) -> same harness id.

Sizes target the 60-second CPU demo on 2 cores: vocab 4096 (a small embedding and head),
seq_len 256 and 32,768 validation tokens (128 rows: evaluation takes about two seconds on 2
cores, which keeps a 60 s run's whole overhead under 5 s; 65,536 took twice that). Python 3.11's
stdlib gives about 12 MB of text, a few million training tokens.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from trainer.data.harness import Harness, HarnessError
from trainer.data.prepare import Progress, prepare_documents

DEMO_VOCAB_SIZE = 4096
DEMO_SEQ_LEN = 256
DEMO_VAL_TOKENS = 32768
DEMO_TIME_BUDGET_S = 60.0
DOC_CHARS = 1000
EXCLUDED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
_PIECE_START = re.compile(r"^(?:    )?(?:@|def |async def |class )", re.MULTILINE)


def stdlib_sources(max_bytes: int | None = None) -> list[Path]:
    """The stdlib .py files of the demo, sorted, up to `max_bytes` of source in total."""
    root = Path(sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise HarnessError(f"the Python standard library is not at {root}")
    files = sorted(
        (p for p in root.rglob("*.py") if not EXCLUDED_DIRS & set(p.relative_to(root).parts)),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if max_bytes is None:
        return files
    chosen, total = [], 0
    for path in files:
        if total >= max_bytes:
            break
        chosen.append(path)
        total += path.stat().st_size
    return chosen


def split_source(text: str) -> Iterator[str]:
    """Documents of up to ~DOC_CHARS characters cut at def/class/decorator lines."""
    cuts = [0]
    for match in _PIECE_START.finditer(text):
        start = match.start()
        # a decorator's def stays with its decorator
        previous = text.rfind("\n", 0, start - 1) + 1 if start else 0
        if start and text[previous:start].lstrip().startswith("@"):
            continue
        cuts.append(start)
    cuts.append(len(text))
    document = ""
    for begin, end in zip(cuts, cuts[1:], strict=False):
        piece = text[begin:end]
        if document and len(document) + len(piece) > DOC_CHARS:
            yield document
            document = ""
        document += piece
    if document.strip():
        yield document


def demo_documents(files: list[Path]) -> Iterator[str]:
    for path in files:
        # stdlib sources are UTF-8; "replace" keeps the demo building if one is not
        yield from split_source(path.read_bytes().decode("utf-8", errors="replace"))


def build_demo_harness(
    out_dir: str | os.PathLike[str],
    max_bytes: int | None = None,
    vocab_size: int = DEMO_VOCAB_SIZE,
    seq_len: int = DEMO_SEQ_LEN,
    val_tokens: int = DEMO_VAL_TOKENS,
    time_budget_s: float = DEMO_TIME_BUDGET_S,
    progress: Progress | None = None,
) -> Harness:
    """Build the demo harness in `out_dir`; `max_bytes` limits the corpus (tests use it)."""
    files = stdlib_sources(max_bytes)
    if not files:
        raise HarnessError("no standard library sources found")
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    version = ".".join(map(str, sys.version_info[:3]))
    return prepare_documents(
        lambda: demo_documents(files),
        out_dir,
        vocab_size=vocab_size,
        val_tokens=val_tokens,
        seq_len=seq_len,
        time_budget_s=time_budget_s,
        description=(
            f"demo: Python {version} standard library sources "
            f"({len(files)} files, {size_mb:.1f} MB), split at def/class lines"
        ),
        progress=progress,
        origin=f"python {version} stdlib, {len(files)} files",
    )
