"""Build a harness from raw text: tokenizer, training shards, pinned validation rows.

Three streaming passes over the documents, so memory holds per-document hashes and the
held-out candidates, not the corpus:

1. scan: hash every document (exact duplicates are dropped) and choose the validation
   candidates, the documents with the smallest hashes: a choice that depends on the text
   only, not on file order;
2. train the byte-level BPE on the other documents (never on held-out text);
3. encode every document in parallel (BOS first) and stream the training documents into
   shards; pack the candidates into the validation rows with the training loader's rule.
   Candidates the rows did not use go back to training.

Everything is deterministic, so the same input gives byte-identical files and the same id.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import shutil
from array import array
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.harness import (
    METRIC,
    Harness,
    HarnessError,
    train_shard_names,
    write_harness_files,
)
from trainer.data.packing import pack_rows
from trainer.data.sources import expand_sources, iter_documents
from trainer.data.tokenizer import (
    bos_token_id,
    check_vocab_size,
    encoding_from_data,
    token_byte_lengths,
    train_tokenizer,
)

DEFAULT_VOCAB_SIZE = 8192
DEFAULT_SEQ_LEN = 2048
DEFAULT_VAL_TOKENS = 1 << 20
DEFAULT_TIME_BUDGET_S = 300.0
DEFAULT_SHARD_TOKENS = 1 << 27
# Held-out candidates are chosen until their estimated contribution reaches this many times
# the validation tokens. A document is assumed to give at most min(bytes / 2, row) tokens
# (BPE averages well over 2 bytes per token; a packed document gives at most one row).
# Candidates the rows do not use return to training; at most half the documents are held out.
CANDIDATE_SAFETY = 2
ENCODE_BATCH_DOCS = 2048
# The tokenizer learns from the first this-many characters of training text: merges settle
# long before, and a corpus of many GB would otherwise take hours here.
TOKENIZER_MAX_CHARS = 2_000_000_000

# progress(stage, done, total): stages "scan", "tokenizer", "encode", "validation"
Progress = Callable[[str, int, int | None], None]


def prepare(
    sources: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    val_tokens: int = DEFAULT_VAL_TOKENS,
    seq_len: int = DEFAULT_SEQ_LEN,
    time_budget_s: float = DEFAULT_TIME_BUDGET_S,
    description: str = "",
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Harness:
    """Build a harness in `out_dir` (new or empty) from .parquet/.jsonl/.txt files or dirs."""
    check_vocab_size(vocab_size)
    files = expand_sources(sources)
    names = ", ".join(str(f) for f in files[:3]) + (
        f" and {len(files) - 3} more" if len(files) > 3 else ""
    )
    return prepare_documents(
        lambda: iter_documents(files),
        out_dir,
        vocab_size=vocab_size,
        val_tokens=val_tokens,
        seq_len=seq_len,
        time_budget_s=time_budget_s,
        description=description or f"prepared from {names}",
        shard_tokens=shard_tokens,
        threads=threads,
        progress=progress,
        origin=f"{len(files)} files",
    )


def prepare_documents(
    documents: Callable[[], Iterator[str]],
    out_dir: str | os.PathLike[str],
    *,
    vocab_size: int,
    val_tokens: int,
    seq_len: int,
    time_budget_s: float,
    description: str,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    threads: int | None = None,
    progress: Progress | None = None,
    origin: str = "",
) -> Harness:
    """prepare() for any document source: `documents()` must yield the same texts each call."""
    check_vocab_size(vocab_size)
    if seq_len < 1:
        raise HarnessError(f"seq_len must be positive, got {seq_len}")
    if val_tokens < 1:
        raise HarnessError(f"val_tokens must be positive, got {val_tokens}")
    if not time_budget_s > 0:
        raise HarnessError(f"time_budget_s must be positive, got {time_budget_s}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise HarnessError(f"{out} already exists and is not an empty directory")
    report = progress or (lambda stage, done, total: None)
    threads = threads or os.cpu_count() or 1

    val_rows = math.ceil(val_tokens / seq_len)
    row_len = seq_len + 1
    scan = _scan(documents, report)
    candidates = _choose_candidates(scan, CANDIDATE_SAFETY * val_rows * row_len, row_len)
    held_out = set(candidates)

    tokenizer_docs = 0

    def training_texts() -> Iterator[str]:
        nonlocal tokenizer_docs
        chars = 0
        for index, text in enumerate(documents()):
            if chars >= TOKENIZER_MAX_CHARS:
                break
            if scan.keep[index] and index not in held_out:
                yield text
                chars += len(text)
                tokenizer_docs += 1
                if tokenizer_docs % 1000 == 0:
                    report("tokenizer", tokenizer_docs, scan.kept - len(held_out))
        report("tokenizer", tokenizer_docs, tokenizer_docs)

    tokenizer = train_tokenizer(training_texts(), vocab_size)
    bos = bos_token_id(tokenizer)
    dtype = np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)

    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        writer = _ShardWriter(staging, dtype, shard_tokens)
        held_out_tokens: dict[int, np.ndarray] = {}
        encoded = _encode_all(
            documents, scan, encoding_from_data(tokenizer), bos, dtype, threads, report
        )
        for index, tokens in encoded:
            if index in held_out:
                held_out_tokens[index] = tokens
            else:
                writer.add(tokens)

        report("validation", 0, val_rows)
        in_hash_order = [held_out_tokens[doc] for doc in candidates]
        rows, used = pack_rows(in_hash_order, val_rows, row_len)
        if len(rows) < val_rows:
            raise HarnessError(
                f"validation needs {val_rows} rows of {row_len} tokens ({val_tokens} tokens) but "
                f"the held-out documents fill only {len(rows)}: lower the validation tokens or "
                "add text"
            )
        used_docs = {candidates[i] for i in used.tolist()}
        for doc in sorted(held_out - used_docs):  # back to training, in stream order
            writer.add(held_out_tokens[doc])
        shards = writer.close()
        if not shards:
            raise HarnessError("no documents left for training after holding out validation")
        report("validation", val_rows, val_rows)

        rows.astype(np.int32).tofile(staging / "val_tokens.bin")
        token_byte_lengths(tokenizer).tofile(staging / "token_bytes.bin")
        (staging / "tokenizer.pkl").write_bytes(pickle.dumps(tokenizer, protocol=4))
        config = {
            "vocab_size": vocab_size,
            "bos_token_id": bos,
            "seq_len": seq_len,
            "val_rows": val_rows,
            "eval_tokens": val_rows * seq_len,
            "time_budget_s": float(time_budget_s),
            "metric": METRIC,
            "token_dtype": dtype.name,
        }
        extra: dict[str, Any] = {
            "train_shards": shards,
            "special_tokens": tokenizer["special_tokens"],
            "stats": {
                "source": origin,
                "documents_read": scan.total,
                "duplicates_dropped": scan.total - scan.kept,
                "train_documents": writer.docs,
                "train_tokens": writer.tokens,
                "val_documents": len(used_docs),
                "val_candidate_documents": len(candidates),
                "tokenizer_documents": tokenizer_docs,
                "text_bytes": scan.kept_bytes,
            },
        }
        write_harness_files(staging, config, description, extra)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Harness.load(out)


class _Scan:
    """Per-document hash and size, compact (16 bytes a document) for large corpora."""

    def __init__(self, keys: np.ndarray, sizes: np.ndarray) -> None:
        self.keys = keys  # uint64 hash of each document's text
        self.sizes = sizes  # int64 UTF-8 bytes
        # Exact duplicates of an earlier document are dropped: a stable sort by hash puts
        # the first occurrence first among equal hashes.
        order = np.argsort(keys, kind="stable")
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[order][1:] != keys[order][:-1]
        self.keep = np.zeros(len(keys), dtype=bool)
        self.keep[order[first]] = True
        self.total = len(keys)
        self.kept = int(self.keep.sum())
        self.kept_bytes = int(sizes[self.keep].sum())


def _scan(documents: Callable[[], Iterator[str]], report: Progress) -> _Scan:
    keys, sizes = array("Q"), array("q")
    for text in documents():
        data = text.encode("utf-8")
        keys.append(int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big"))
        sizes.append(len(data))
        if len(keys) % 1000 == 0:
            report("scan", len(keys), None)
    report("scan", len(keys), len(keys))
    if not keys:
        raise HarnessError("no documents found: every source is empty")
    scan = _Scan(np.frombuffer(keys, dtype=np.uint64), np.frombuffer(sizes, dtype=np.int64))
    if scan.kept < 2:
        raise HarnessError(
            f"found {scan.kept} distinct document(s); a harness needs at least 2 "
            "(training and validation)"
        )
    return scan


def _choose_candidates(scan: _Scan, target_tokens: int, row_len: int) -> list[int]:
    """Document indices held out for validation, in hash order."""
    kept = np.flatnonzero(scan.keep)
    order = kept[np.argsort(scan.keys[kept], kind="stable")]
    estimate = np.minimum(scan.sizes[order] // 2, row_len)
    count = int(np.searchsorted(np.cumsum(estimate), target_tokens)) + 1
    count = max(1, min(count, len(order) // 2))
    return order[:count].tolist()


def _encode_all(
    documents: Callable[[], Iterator[str]],
    scan: _Scan,
    encoding: Any,
    bos: int,
    dtype: np.dtype[Any],
    threads: int,
    report: Progress,
) -> Iterator[tuple[int, np.ndarray]]:
    """(document index, BOS + tokens) for every kept document, in order; encoded in threads."""

    def encode(text: str) -> np.ndarray:
        # encode_ordinary: a document that contains the text "<|bos|>" gets ordinary tokens,
        # so BOS marks document starts only.
        ids = encoding.encode_ordinary(text)
        tokens = np.empty(len(ids) + 1, dtype=dtype)
        tokens[0] = bos
        tokens[1:] = ids
        return tokens

    batch: list[tuple[int, str]] = []
    done = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:

        def flush() -> Iterator[tuple[int, np.ndarray]]:
            indices = [index for index, _ in batch]
            yield from zip(indices, pool.map(encode, [text for _, text in batch]), strict=True)

        for index, text in enumerate(documents()):
            if index >= scan.total:
                raise HarnessError("the documents changed while preparing (more than scanned)")
            if scan.keep[index]:
                batch.append((index, text))
            if len(batch) == ENCODE_BATCH_DOCS:
                yield from flush()
                done += len(batch)
                report("encode", done, scan.kept)
                batch = []
        yield from flush()
        report("encode", done + len(batch), scan.kept)


class _ShardWriter:
    """Appends documents to train_NNNN.bin, starting a new shard past `shard_tokens`."""

    def __init__(self, out_dir: Path, dtype: np.dtype[Any], shard_tokens: int) -> None:
        self.out_dir = out_dir
        self.dtype = dtype
        self.shard_tokens = shard_tokens
        self.names: list[str] = []
        self.docs = 0
        self.tokens = 0
        self._file: Any = None
        self._offsets: list[int] = []

    def add(self, tokens: np.ndarray) -> None:
        if self._file is None:
            bin_name, _ = train_shard_names(len(self.names))
            self.names.append(bin_name)
            self._file = open(self.out_dir / bin_name, "wb")
            self._offsets = [0]
        self._file.write(tokens.astype(self.dtype, copy=False).tobytes())
        self._offsets.append(self._offsets[-1] + len(tokens))
        self.docs += 1
        self.tokens += len(tokens)
        if self._offsets[-1] >= self.shard_tokens:
            self._finish_shard()

    def _finish_shard(self) -> None:
        self._file.close()
        self._file = None
        _, idx_name = train_shard_names(len(self.names) - 1)
        np.array(self._offsets, dtype=np.int64).tofile(self.out_dir / idx_name)

    def close(self) -> list[str]:
        if self._file is not None:
            self._finish_shard()
        return self.names
