"""BOS-aligned best-fit packing: rows of documents with no padding.

The rule (shared by the training loader and the pinned validation rows):

- every document starts with BOS, and every row of `row_len` tokens starts at a document start;
- a buffer holds up to `buffer_size` candidate documents, topped up from the document
  stream before each pick;
- to fill a row, repeatedly take the longest buffered document that fits in the space left
  (earliest buffered first among equal lengths);
- when none fits, the shortest buffered document (earliest among equals) is cropped to fill
  the row exactly; the rest of that document is dropped.

`bench/reference_packer.py` implements the same rule in plain Python, and the tests check
the two agree token for token. Here the buffer is kept sorted by an integer key so that each
pick is a binary search (O(log buffer) instead of a scan), and the tokens of a whole batch are
moved with one numpy gather instead of per-token Python work.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_BUFFER_SIZE = 1000

# Buffer key = length << SHIFT | (TIE_MASK - arrival number): sorting by key sorts by length,
# and among equal lengths puts the earliest arrival last, where bisect_right lands.
_SHIFT = 40
_TIE_MASK = (1 << _SHIFT) - 1


@dataclass(frozen=True)
class RowPlan:
    """Pieces that tile `rows` rows in order: piece i is the first takes[i] tokens of docs[i]."""

    docs: np.ndarray  # int64 document ids
    takes: np.ndarray  # int64 tokens taken from the start of each document
    rows: int


class BestFitPacker:
    """Plans rows from a stream of document ids; finite streams end with `rows < n_rows`."""

    def __init__(
        self,
        doc_lengths: np.ndarray,
        doc_order: Iterator[np.ndarray],
        row_len: int,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        if row_len < 2:
            raise ValueError(f"row_len must be at least 2, got {row_len}")
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be positive, got {buffer_size}")
        self.doc_lengths = np.asarray(doc_lengths, dtype=np.int64)
        self.row_len = row_len
        self.buffer_size = buffer_size
        self.cropped_tokens = 0  # document tails dropped by crops
        self._order = doc_order
        self._chunk_docs: list[int] = []
        self._chunk_lengths: list[int] = []
        self._chunk_pos = 0
        self._arrivals = 0
        self._keys: list[int] = []  # sorted
        self._docs: list[int] = []  # parallel to _keys

    def _top_up(self) -> None:
        keys, docs = self._keys, self._docs
        while len(keys) < self.buffer_size:
            if self._chunk_pos == len(self._chunk_docs):
                chunk = next(self._order, None)
                if chunk is None:
                    return
                chunk = np.asarray(chunk, dtype=np.int64)
                self._chunk_docs = chunk.tolist()
                self._chunk_lengths = self.doc_lengths[chunk].tolist()
                self._chunk_pos = 0
                continue
            length = self._chunk_lengths[self._chunk_pos]
            key = (length << _SHIFT) | (_TIE_MASK - self._arrivals)
            at = bisect_right(keys, key)
            keys.insert(at, key)
            docs.insert(at, self._chunk_docs[self._chunk_pos])
            self._chunk_pos += 1
            self._arrivals += 1

    def plan(self, n_rows: int) -> RowPlan:
        keys, docs = self._keys, self._docs
        out_docs: list[int] = []
        out_takes: list[int] = []
        for row in range(n_rows):
            row_start = len(out_docs)
            remaining = self.row_len
            while remaining:
                self._top_up()
                if not keys:  # finite stream ran dry: drop the unfinished row
                    del out_docs[row_start:], out_takes[row_start:]
                    return RowPlan(_int64(out_docs), _int64(out_takes), row)
                at = bisect_right(keys, (remaining << _SHIFT) | _TIE_MASK) - 1
                if at >= 0:
                    take = keys[at] >> _SHIFT
                else:  # nothing fits: crop the shortest
                    shortest = keys[0] >> _SHIFT
                    at = bisect_right(keys, (shortest << _SHIFT) | _TIE_MASK) - 1
                    take = remaining
                    self.cropped_tokens += shortest - take
                keys.pop(at)
                out_docs.append(docs.pop(at))
                out_takes.append(take)
                remaining -= take
        return RowPlan(_int64(out_docs), _int64(out_takes), n_rows)


def _int64(values: Sequence[int]) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64, count=len(values))


class TokenShards:
    """Documents stored as token arrays (memory-mapped shards or in-memory), gathered by plan."""

    def __init__(self, shards: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """`shards`: (tokens, offsets) pairs; offsets are document starts plus the final end."""
        if not shards:
            raise ValueError("no token shards")
        self.tokens = [tokens for tokens, _ in shards]
        starts, lengths, shard_of = [], [], []
        for index, (_, offsets) in enumerate(shards):
            offsets = np.asarray(offsets, dtype=np.int64)
            starts.append(offsets[:-1])
            lengths.append(np.diff(offsets))
            shard_of.append(np.full(len(offsets) - 1, index, dtype=np.int32))
        self.doc_starts = np.concatenate(starts)
        self.doc_lengths = np.concatenate(lengths)
        self.doc_shard = np.concatenate(shard_of)

    @property
    def num_docs(self) -> int:
        return len(self.doc_lengths)

    def gather(self, plan: RowPlan, row_len: int, out: np.ndarray | None = None) -> np.ndarray:
        """The planned rows as [plan.rows, row_len] (written into `out` when given)."""
        total = plan.rows * row_len
        if out is None:
            out = np.empty((plan.rows, row_len), dtype=np.int64)
        flat = out.reshape(-1)
        if total == 0:
            return out
        # Source index of every output token: the piece's start in its shard plus the
        # token's offset inside the piece (pieces tile the output contiguously).
        piece_out_start = np.cumsum(plan.takes) - plan.takes
        src = np.repeat(self.doc_starts[plan.docs] - piece_out_start, plan.takes)
        src += np.arange(total, dtype=np.int64)
        if len(self.tokens) == 1:
            flat[:] = self.tokens[0][src]
            return out
        token_shard = np.repeat(self.doc_shard[plan.docs], plan.takes)
        for shard in np.unique(token_shard).tolist():
            where = token_shard == shard
            flat[where] = self.tokens[shard][src[where]]
        return out


def pack_rows(
    docs: Sequence[np.ndarray], n_rows: int, row_len: int, buffer_size: int = DEFAULT_BUFFER_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Pack in-memory documents, in the given order, into at most `n_rows` full rows.

    Returns (rows int32 [r, row_len] with r <= n_rows, ids of the documents used). This is how
    prepare() pins the validation rows: the same rule the training loader applies.
    """
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = np.concatenate(docs) if docs else np.empty(0, dtype=np.int64)
    store = TokenShards([(tokens, offsets)])
    packer = BestFitPacker(lengths, iter([np.arange(len(docs))]), row_len, buffer_size)
    plan = packer.plan(n_rows)
    rows = store.gather(plan, row_len, out=np.empty((plan.rows, row_len), dtype=np.int32))
    return rows, np.unique(plan.docs)
