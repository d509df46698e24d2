"""Training batches served by the supervisor through memory it creates and hands over.

The training child never opens a data file. `ctx.train_batches(B, T)` asks the
supervisor to open a stream; the supervisor packs rows with the same `TrainLoader`
rule (seeded, BOS-aligned best fit) into a ring of slots in a sealed memfd that it
passes over the channel (SCM_RIGHTS: no name anyone else could open), and answers
each `next_batch` with the slot that holds it, then fills the other slot while the
child computes. So the supervisor knows every batch and token the child received,
and it stops serving when the budget is spent: training after the deadline, or in
the save grace, has no fresh data.

Before the training clock starts (the child's warm-up: imports, model build,
compilation), at most `WARMUP_BATCHES` are served; asking for more starts the clock.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trainer.runner.channel import Channel, ChannelClosed, ChannelError
from trainer.runner.messages import MAX_BATCH_STREAMS, NextBatch, OpenBatches

SLOTS = 2
WARMUP_BATCHES = 2  # enough for a first step with gradient accumulation (the baseline's)
MAX_STREAM_BYTES = 64 << 20  # the ring of one stream (slots x rows x (seq_len + 1) int32)
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL  # type: ignore[attr-defined]


class BatchRefused(ValueError):
    """A request the supervisor will not serve (the run ends as CONTRACT)."""


class TrainingClock:
    """The supervisor's training clock: it starts at the child's first report, at the
    first batch beyond the warm-up allowance, or when the start-up allowance runs out,
    whichever comes first; the budget is counted from there."""

    def __init__(self, handover: float, allowance_s: float, budget_s: float) -> None:
        self.handover = handover
        self.latest_start = handover + allowance_s
        self.budget_s = budget_s
        self.start: float | None = None
        self._lock = threading.Lock()

    def start_now(self, now: float) -> float:
        with self._lock:
            if self.start is None:
                self.start = min(now, self.latest_start)
            return self.start

    def check(self, now: float) -> float | None:
        """The start (forcing it when the allowance has run out), or None."""
        if self.start is None and now >= self.latest_start:
            return self.start_now(now)
        return self.start

    def budget_spent(self, now: float) -> bool:
        start = self.check(now)
        return start is not None and now >= start + self.budget_s


@dataclass
class _Stream:
    batch_size: int
    seq_len: int
    loader: Any  # trainer.data.loader.TrainLoader
    fd: int
    mapping: mmap.mmap
    slots: np.ndarray  # int32 [SLOTS, batch_size, seq_len + 1]
    turn: int = 0  # the slot the next batch is in (already filled)


@dataclass
class BatchServer:
    """Supervisor side: serves batches on the training child's channel, counts them."""

    harness_dir: str
    seed: int
    clock: TrainingClock
    streams: list[_Stream] = field(default_factory=list)
    batches: int = 0
    tokens: int = 0  # input tokens (rows x seq_len) of every batch handed over
    warmup_batches: int = 0  # of those, before the clock started
    warmup_tokens: int = 0
    refused: int = 0  # requests after the budget was spent

    def open(self, request: OpenBatches, channel: Channel) -> None:
        from trainer.data.loader import TrainLoader

        if len(self.streams) >= MAX_BATCH_STREAMS:
            raise BatchRefused(f"ctx.train_batches called more than {MAX_BATCH_STREAMS} times")
        shape = (SLOTS, request.batch_size, request.seq_len + 1)
        size = int(np.prod(shape)) * 4
        if size > MAX_STREAM_BYTES:
            raise BatchRefused(
                f"ctx.train_batches({request.batch_size}, {request.seq_len}) needs "
                f"{size >> 20} MB of batch buffers, over the limit of {MAX_STREAM_BYTES >> 20} MB"
            )
        loader = TrainLoader(
            self.harness_dir, request.batch_size, request.seq_len, seed=self.seed, device="cpu"
        )
        fd = os.memfd_create("loopy-batches", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, size)
            # sealed: the child cannot shrink the memory under our mapping (SIGBUS here)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)  # type: ignore[attr-defined]
            mapping = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        slots = np.frombuffer(mapping, dtype=np.int32).reshape(shape)
        stream = _Stream(request.batch_size, request.seq_len, loader, fd, mapping, slots)
        loader.next_rows(out=slots[0])
        self.streams.append(stream)
        channel.send_with_fd(
            {"type": "batches", "stream": len(self.streams) - 1, "slots": SLOTS}, fd
        )

    def next(self, request: NextBatch, channel: Channel) -> None:
        if request.stream >= len(self.streams):
            raise BatchRefused(f"no batch stream {request.stream} was opened")
        stream = self.streams[request.stream]
        now = time.monotonic()
        if self.clock.check(now) is None and self.warmup_batches >= WARMUP_BATCHES:
            self.clock.start_now(now)  # more than a warm-up: the training has begun
        if self.clock.budget_spent(now):
            self.refused += 1
            channel.send({"type": "end", "reason": "the time budget is spent"})
            return
        if self.clock.start is None:
            self.warmup_batches += 1
            self.warmup_tokens += stream.batch_size * stream.seq_len
        slot = stream.turn
        channel.send({"type": "batch", "slot": slot, "clock_start": self.clock.start})
        self.batches += 1
        self.tokens += stream.batch_size * stream.seq_len
        # fill the other slot while the child copies this one and computes
        stream.turn = (slot + 1) % SLOTS
        stream.loader.next_rows(out=stream.slots[stream.turn])

    def close(self) -> None:
        for stream in self.streams:
            stream.slots = np.empty(0, dtype=np.int32)  # drop the view before the mapping
            with contextlib.suppress(BufferError):
                stream.mapping.close()
            with contextlib.suppress(OSError):
                os.close(stream.fd)
        self.streams.clear()


class BatchStream:
    """Child side: the iterator `ctx.train_batches` returns. Each batch is copied out of
    the shared slot (to `device`) before the next is asked for."""

    def __init__(
        self, channel: Channel, batch_size: int, seq_len: int, device: str, on_batch: Any
    ) -> None:
        self.channel = channel
        self.device = torch.device(device)
        self.on_batch = on_batch  # called with (tokens, clock_start) for every batch
        self.ended = False
        channel.send({"type": "open_batches", "batch_size": batch_size, "seq_len": seq_len})
        reply, fd = channel.recv_with_fd()
        if reply.get("type") != "batches" or fd is None:
            raise RuntimeError(f"the supervisor did not open a batch stream: {reply}")
        self.stream = int(reply["stream"])
        shape = (int(reply["slots"]), batch_size, seq_len + 1)
        mapping = mmap.mmap(fd, int(np.prod(shape)) * 4)
        os.close(fd)
        self.slots = torch.from_numpy(np.frombuffer(mapping, dtype=np.int32).reshape(shape))
        self.batch_size, self.seq_len = batch_size, seq_len
        self._pinned: list[Any] = []
        self._copied: list[Any] = []
        self._turn = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> tuple[Any, Any]:
        if self.ended:
            raise StopIteration
        self.channel.send({"type": "next_batch", "stream": self.stream})
        try:
            reply = self.channel.recv()
        except (ChannelClosed, ChannelError, OSError):
            self.ended = True
            raise StopIteration from None
        if reply.get("type") != "batch":
            self.ended = True  # the budget is spent: no more data
            raise StopIteration
        slot = self.slots[int(reply["slot"])]
        self.on_batch(self.batch_size * self.seq_len, reply.get("clock_start"))
        if self.device.type != "cuda":
            # copies: the slot is refilled after our next ask
            dense = torch.contiguous_format
            return (
                slot[:, :-1].to(torch.int64, memory_format=dense),
                slot[:, 1:].to(torch.int64, memory_format=dense),
            )
        return self._to_cuda(slot)

    def _to_cuda(self, slot: Any) -> tuple[Any, Any]:
        """Through two pinned staging buffers, as TrainLoader does: the host copy is done
        before we ask for the next batch; the device copy may still be in flight."""
        if not self._pinned:
            self._pinned = [torch.empty(slot.shape, dtype=torch.int32).pin_memory() for _ in "ab"]
            self._copied = [None, None]
        turn = self._turn
        self._turn ^= 1
        if self._copied[turn] is not None:
            self._copied[turn].synchronize()
        staging = self._pinned[turn]
        staging.copy_(slot)
        rows = staging.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        self._copied[turn] = event
        return rows[:, :-1].long(), rows[:, 1:].long()
