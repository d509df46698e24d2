"""Reading documents from .parquet, .jsonl and .txt files (and directories of them).

- `.parquet`: one document per row of the `text` column (read in row-group batches).
- `.jsonl`: one document per line, the line's `text` field; blank lines are skipped.
- `.txt`: split at blank lines into paragraphs; consecutive paragraphs are joined into
  documents of up to about TXT_DOC_CHARS characters (a longer paragraph stays whole).
  Whole books as one document would be mostly cropped away by the packer, which keeps
  only the start of a document longer than a row.

Empty (or whitespace-only) documents are skipped. Text that is not valid Unicode (lone
surrogates in JSON) has the bad characters replaced, so every pass sees the same text.
A directory is searched recursively for those suffixes, in sorted path order.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from trainer.data.harness import HarnessError

SUFFIXES = (".parquet", ".jsonl", ".txt")
TXT_DOC_CHARS = 4000
PARQUET_BATCH_ROWS = 1024
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


def expand_sources(sources: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files named by `sources` (directories expanded), in order, each once."""
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise HarnessError(f"{path}: directory holds no {'/'.join(SUFFIXES)} files")
            files.extend(found)
        elif path.is_file():
            if path.suffix not in SUFFIXES:
                raise HarnessError(
                    f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
                    f"expected one of {', '.join(SUFFIXES)}"
                )
            files.append(path)
        elif path.exists():
            raise HarnessError(f"{path}: neither a file nor a directory")
        else:
            raise HarnessError(f"{path}: no such file or directory")
    unique = list(dict.fromkeys(files))
    if not unique:
        raise HarnessError("no source files given")
    return unique


def iter_documents(files: Iterable[Path]) -> Iterator[str]:
    """Every non-empty document of every file, in order (a fresh pass on each call)."""
    for path in files:
        reader = {".parquet": _parquet_docs, ".jsonl": _jsonl_docs, ".txt": _txt_docs}[path.suffix]
        try:
            for text in reader(path):
                if text.strip():
                    yield _valid_unicode(text)
        except HarnessError:
            raise
        except UnicodeDecodeError as exc:
            raise HarnessError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        except OSError as exc:
            raise HarnessError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _valid_unicode(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _parquet_docs(path: Path) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise HarnessError(f"{path}: not a readable parquet file: {exc}") from None
    schema = parquet.schema_arrow
    if "text" not in schema.names:
        raise HarnessError(
            f"{path}: parquet file has no 'text' column (columns: {', '.join(schema.names) or 'none'})"
        )
    text_type = schema.field("text").type
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
        raise HarnessError(f"{path}: parquet column 'text' has type {text_type}, expected string")
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=["text"]):
            for text in batch.column(0).to_pylist():
                if text is not None:
                    yield text
    except (pa.ArrowException, OSError) as exc:
        raise HarnessError(f"{path}: cannot read parquet data: {exc}") from None


def _jsonl_docs(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{path}:{line_number}: invalid JSON: {exc.msg}") from None
            text = record.get("text") if isinstance(record, dict) else None
            if not isinstance(text, str):
                raise HarnessError(f"{path}:{line_number}: line has no string field 'text'")
            yield text


def _txt_docs(path: Path) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    document: list[str] = []
    size = 0
    for paragraph in _BLANK_LINES.split(text):
        if document and size + len(paragraph) > TXT_DOC_CHARS:
            yield "\n\n".join(document)
            document, size = [], 0
        document.append(paragraph)
        size += len(paragraph) + 2
    if document:
        yield "\n\n".join(document)
