"""The metrics channel: length-prefixed msgpack messages over an inherited socket.

Separate from stdout so that printed text can never pass for a metric. Both ends
treat what they receive as untrusted: a message is a dict, size-capped.
"""

from __future__ import annotations

import os
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

    def send_with_fd(self, message: dict[str, Any], fd: int) -> None:
        """Send a message with a file descriptor attached (SCM_RIGHTS): the receiver gets
        its own copy of the descriptor, nobody else can open it by name."""
        data = _HEADER.pack(len(payload := _encoder.encode(message))) + payload
        sent = socket.send_fds(self.sock, [data], [fd])
        if sent < len(data):
            self.sock.sendall(data[sent:])

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; ChannelClosed at end of stream, TimeoutError on timeout."""
        try:
            return _decoder.decode(self.recv_frame(timeout))
        except msgspec.DecodeError as exc:
            raise ChannelError(f"undecodable message: {exc}") from None

    def recv_frame(self, timeout: float | None = None, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
        """The next message's undecoded payload, at most `max_bytes` (else ChannelError,
        and the stream is no longer usable)."""
        self.sock.settimeout(timeout)
        (size,) = _HEADER.unpack(self._read(_HEADER.size))
        if size > max_bytes:
            raise ChannelError(f"a frame of {size} bytes exceeds the limit of {max_bytes}")
        return self._read(size)

    def recv_with_fd(self, timeout: float | None = None) -> tuple[dict[str, Any], int | None]:
        """The next message and the descriptor sent with it (None if none came)."""
        self.sock.settimeout(timeout)
        fds: list[int] = []
        header = self._read(_HEADER.size, fds)
        (size,) = _HEADER.unpack(header)
        if size > MAX_MESSAGE_BYTES:
            raise ChannelError(f"a frame of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
        payload = self._read(size, fds)
        for extra in fds[1:]:
            os.close(extra)
        try:
            return _decoder.decode(payload), (fds[0] if fds else None)
        except msgspec.DecodeError as exc:
            raise ChannelError(f"undecodable message: {exc}") from None

    def _read(self, n: int, fds: list[int] | None = None) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            try:
                if fds is None:
                    chunk = self.sock.recv(n - len(chunks))
                else:
                    chunk, got, _, _ = socket.recv_fds(self.sock, n - len(chunks), 4)
                    fds.extend(got)
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
