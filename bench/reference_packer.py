"""The reference BOS-aligned best-fit packer: the rule written as plainly as possible.

Same rule as trainer/data/packing.py (the vectorised one); tests and bench/packer_bench.py
check that the two give identical rows:

- before each pick the buffer is topped up to `buffer_size` documents from the stream;
- take the longest buffered document that fits in the space left (earliest on ties);
- if none fits, crop the shortest buffered document (earliest on ties) to fill the row.
"""

from __future__ import annotations

from collections.abc import Iterator


class ReferencePacker:
    """Successive `next_rows` calls continue the same document stream and buffer."""

    def __init__(
        self, docs: list[list[int]], order: Iterator[int], row_len: int, buffer_size: int
    ) -> None:
        self.docs = docs
        self.order = order
        self.row_len = row_len
        self.buffer_size = buffer_size
        self.buffer: list[int] = []  # document ids, in arrival order

    def next_rows(self, n_rows: int) -> list[list[int]]:
        """Up to `n_rows` rows; fewer only when a finite stream runs dry."""
        docs, buffer = self.docs, self.buffer
        rows: list[list[int]] = []
        for _ in range(n_rows):
            row: list[int] = []
            while len(row) < self.row_len:
                while len(buffer) < self.buffer_size:
                    doc = next(self.order, None)
                    if doc is None:
                        break
                    buffer.append(doc)
                if not buffer:
                    return rows  # the unfinished row is dropped
                remaining = self.row_len - len(row)
                best = -1
                for i, doc in enumerate(buffer):
                    length = len(docs[doc])
                    if length <= remaining and (best < 0 or length > len(docs[buffer[best]])):
                        best = i
                if best >= 0:
                    row.extend(docs[buffer.pop(best)])
                else:
                    shortest = 0
                    for i, doc in enumerate(buffer):
                        if len(docs[doc]) < len(docs[buffer[shortest]]):
                            shortest = i
                    row.extend(docs[buffer.pop(shortest)][:remaining])
            rows.append(row)
        return rows


def reference_pack(
    docs: list[list[int]], order: Iterator[int], n_rows: int, row_len: int, buffer_size: int
) -> list[list[int]]:
    """Up to `n_rows` rows of `row_len` tokens from the documents named by `order`."""
    return ReferencePacker(docs, order, row_len, buffer_size).next_rows(n_rows)
