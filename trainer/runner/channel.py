"""The metrics channel: length-prefixed msgpack messages over an inherited socket.

Separate from stdout so that printed text can never pass for a metric. Both ends
treat what they receive as untrusted: a message is a dict, size-capped.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import msgspec

MAX_MESSAGE_BYTES = 1 << 20
_HEADER = struct.Struct("!I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(dict)


class ChannelClosed(EOFError):
    pass


class ChannelError(ValueError):
    """The peer sent something that is not a message."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, socket.socket]:
        """(our end, the end to hand to a child)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return cls(ours), theirs

    @classmethod
    def from_fd(cls, fd: int) -> Channel:
        return cls(socket.socket(fileno=fd))

    def send(self, message: dict[str, Any]) -> None:
        payload = _encoder.encode(message)
        self.sock.sendall(_HEADER.pack(len(payload)) + payload)

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; ChannelClosed at end of stream, TimeoutError on timeout."""
        self.sock.settimeout(timeout)
        (size,) = _HEADER.unpack(self._read(_HEADER.size))
        if size > MAX_MESSAGE_BYTES:
            raise ChannelError(f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
        try:
            return _decoder.decode(self._read(size))
        except msgspec.DecodeError as exc:
            raise ChannelError(f"undecodable message: {exc}") from None

    def _read(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            try:
                chunk = self.sock.recv(n - len(chunks))
            except TimeoutError:
                if chunks:  # never leave the stream mid-message
                    self.sock.settimeout(None)
                    continue
                raise
            if not chunk:
                raise ChannelClosed
            chunks += chunk
        return bytes(chunks)

    def close(self) -> None:
        self.sock.close()
