"""The training data loader: endless, seeded, BOS-aligned best-fit packed batches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from trainer.data.harness import Harness, HarnessError
from trainer.data.packing import DEFAULT_BUFFER_SIZE, BestFitPacker, TokenShards


def open_train_shards(harness: Harness) -> TokenShards:
    """Memory-map every training shard and check its offsets and BOS starts."""
    shards = []
    for bin_path, idx_path in harness.train_shards:
        try:
            tokens = np.memmap(bin_path, dtype=harness.token_dtype, mode="r")
            offsets = np.fromfile(idx_path, dtype=np.int64)
        except FileNotFoundError as exc:
            raise HarnessError(f"training shard {exc.filename} not found") from None
        except (OSError, ValueError) as exc:
            raise HarnessError(f"cannot read training shard {bin_path}: {exc}") from None
        if (
            len(offsets) < 2
            or offsets[0] != 0
            or offsets[-1] != len(tokens)
            or np.any(np.diff(offsets) <= 0)
        ):
            raise HarnessError(f"{idx_path} does not hold increasing offsets 0..{len(tokens)}")
        if np.any(tokens[offsets[:-1]] != harness.bos_token_id):
            raise HarnessError(f"{bin_path}: a document does not start with BOS")
        shards.append((tokens, offsets))
    if not shards:
        raise HarnessError(f"harness {harness.path} lists no training shards")
    return TokenShards(shards)


class TrainLoader:
    """Iterator of (x, y) LongTensor [batch_size, seq_len] pairs on `device`, forever.

    Each row is seq_len + 1 packed tokens (x = row[:-1], y = row[1:]) starting with BOS.
    Documents are shuffled per epoch by (seed, epoch); the same seed gives the same batches.
    Reads only the manifest and the training shards, never the validation data.
    """

    def __init__(
        self,
        harness_dir: str | os.PathLike[str],
        batch_size: int,
        seq_len: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        if batch_size < 1 or seq_len < 1:
            raise ValueError(
                f"batch_size and seq_len must be positive, got {batch_size}, {seq_len}"
            )
        self.harness = Harness.load(harness_dir)
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.seed = seed
        self.device = torch.device(device)
        self.epoch = 0
        self.tokens_yielded = 0
        self.store = open_train_shards(self.harness)
        self.packer = BestFitPacker(
            self.store.doc_lengths, self._epochs(), seq_len + 1, buffer_size
        )
        self._pinned: list[torch.Tensor] = []
        self._copied: list[Any] = []  # a CUDA event per pinned buffer: its copy has finished
        self._turn = 0

    def _epochs(self) -> Iterator[np.ndarray]:
        while True:
            yield np.random.default_rng([self.seed, self.epoch]).permutation(self.store.num_docs)
            self.epoch += 1

    def next_rows(self, out: np.ndarray | None = None) -> np.ndarray:
        """The next [batch_size, seq_len + 1] packed rows as a numpy array (int64 by default)."""
        plan = self.packer.plan(self.batch_size)
        return self.store.gather(plan, self.seq_len + 1, out=out)

    def __iter__(self) -> TrainLoader:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.tokens_yielded += self.batch_size * self.seq_len
        if self.device.type != "cuda":
            rows = torch.from_numpy(self.next_rows())
            return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
        # Pinned int32 staging buffers, used in turn: the host fills one while the previous
        # batch's copy may still be in flight; widening to int64 happens on the device.
        if not self._pinned:
            shape = (self.batch_size, self.seq_len + 1)
            self._pinned = [torch.empty(shape, dtype=torch.int32).pin_memory() for _ in range(2)]
            self._copied = [None, None]
        turn = self._turn
        self._turn ^= 1
        if self._copied[turn] is not None:
            self._copied[turn].synchronize()
        staging = self._pinned[turn]
        self.next_rows(out=staging.numpy())
        rows = staging.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        self._copied[turn] = event
        return rows[:, :-1].long(), rows[:, 1:].long()
