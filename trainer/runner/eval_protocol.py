"""What an evaluation child and the supervisor say to each other, and the memory they share.

Control messages go over the child's channel, decoded here against a schema; bulk data
(inputs, logits) goes through two anonymous memory files (memfd) that the supervisor
creates for that child alone and hands over the channel's socket (SCM_RIGHTS): no name
on any file system, so no other process (the other evaluation child included) can open
them. Both files are sealed against shrinking and growing (a child that truncated a
mapping would crash the supervisor with SIGBUS), and the child gets the inputs through a
read-only descriptor.

    supervisor -> child: load (then the two descriptors), score {slot, rows}, exit
    child -> supervisor: ready, loaded, scored {slot, forward_seconds}, failed {reason, message}
"""

from __future__ import annotations

import fcntl
import mmap
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from trainer.runner.channel import Channel
from trainer.runner.config import RunFailure

SLOTS = 2  # double buffering: the child scores one batch while we reduce the other
MAX_TEXT = 4000  # characters of a child's failure message we keep
# a child may say its own code failed in these ways; TIMEOUT, INTEGRITY and CANCELLED are
# only ever observed here, and anything else a child claims is a CRASH
CHILD_REASONS = frozenset(
    {RunFailure.CRASH, RunFailure.CONTRACT, RunFailure.OOM, RunFailure.DIVERGED}
)


class Ready(msgspec.Struct, tag="ready", forbid_unknown_fields=True):
    pass


class Loaded(msgspec.Struct, tag="loaded", forbid_unknown_fields=True):
    pass


class Scored(msgspec.Struct, tag="scored", forbid_unknown_fields=True):
    slot: int
    forward_seconds: float = 0.0  # the child's own account: informative only


class Failed(msgspec.Struct, tag="failed", forbid_unknown_fields=True):
    reason: str
    message: str


ChildMessage = Ready | Loaded | Scored | Failed


class ProtocolError(ValueError):
    """The child sent something that is not one of its messages."""


def decode(message: dict[str, Any]) -> ChildMessage:
    try:
        decoded = msgspec.convert(message, ChildMessage)  # type: ignore[arg-type]
    except msgspec.ValidationError as exc:
        raise ProtocolError(
            f"not an evaluation child message ({exc}): {str(message)[:200]}"
        ) from None
    if isinstance(decoded, Failed):
        reason = decoded.reason if decoded.reason in CHILD_REASONS else RunFailure.CRASH
        return Failed(reason, decoded.message[-MAX_TEXT:])
    return decoded


def _sealed_memfd(name: str, size: int) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size)
        fcntl.fcntl(
            fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
        )
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass
class SharedBuffers:
    """One child's memory: inputs int32 [S, R, T] and logits float32 [S, R, T, V]."""

    rows: int
    seq_len: int
    vocab_size: int
    inputs: np.ndarray = field(init=False)
    logits: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.input_shape = (SLOTS, self.rows, self.seq_len)
        self.logit_shape = (*self.input_shape, self.vocab_size)
        self.input_fd = _sealed_memfd("loopy-eval-inputs", 4 * int(np.prod(self.input_shape)))
        self.logit_fd = _sealed_memfd("loopy-eval-logits", 4 * int(np.prod(self.logit_shape)))
        self._maps = [
            mmap.mmap(self.input_fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE),
            mmap.mmap(self.logit_fd, 0, mmap.MAP_SHARED, mmap.PROT_READ),
        ]
        self.inputs = np.frombuffer(self._maps[0], np.int32).reshape(self.input_shape)
        self.logits = np.frombuffer(self._maps[1], np.float32).reshape(self.logit_shape)

    def hand_over(self, channel: Channel, load: dict[str, Any]) -> None:
        """Send `load` and then the child's two descriptors: inputs read-only, logits."""
        channel.send(load | {"input_shape": self.input_shape, "logit_shape": self.logit_shape})
        readonly = os.open(f"/proc/self/fd/{self.input_fd}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            socket.send_fds(channel.sock, [b"F"], [readonly, self.logit_fd])
        finally:
            os.close(readonly)

    def close(self) -> None:
        del self.inputs, self.logits
        for m in self._maps:
            try:
                m.close()
            except BufferError:  # a view is still alive somewhere: the GC unmaps it later
                pass
        for fd in (self.input_fd, self.logit_fd):
            os.close(fd)


def receive_buffers(channel: Channel, load: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Child side: (inputs, read-only; logits, writable) from the descriptors after `load`."""
    _, fds, _, _ = socket.recv_fds(channel.sock, 1, 2)
    if len(fds) != 2:
        raise RuntimeError(f"expected 2 shared-memory descriptors, got {len(fds)}")
    input_shape, logit_shape = tuple(load["input_shape"]), tuple(load["logit_shape"])
    inputs = np.frombuffer(mmap.mmap(fds[0], 0, mmap.MAP_SHARED, mmap.PROT_READ), np.int32)
    logits = np.frombuffer(
        mmap.mmap(fds[1], 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE), np.float32
    )
    for fd in fds:
        os.close(fd)
    return inputs.reshape(input_shape), logits.reshape(logit_shape)
