"""In-process stand-ins for the outside world, for tests of the domain and transports.

`RecordingDispatcher` records what the domain asks of execution (nothing runs);
a test plays the worker by calling `Loopy.claim_run` / `complete_run` itself.
`MemoryArtifactStore` keeps blobs in a dict with the same integrity contract as
the real stores (sha256 recorded on write, checked on read).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import BinaryIO

from service.domain.errors import NotFound, Unavailable
from service.domain.models import ArtifactRef, Run
from service.domain.ports import ArtifactIntegrityError, ArtifactStore, Dispatcher


class RecordingDispatcher(Dispatcher):
    def __init__(self) -> None:
        self.submitted: list[Run] = []
        self.cancelled: list[Run] = []
        self.fail_submits = False  # set to simulate a broker that is down
        self._lock = threading.Lock()

    def submit(self, run: Run) -> None:
        if self.fail_submits:
            raise Unavailable("broker unavailable (simulated)")
        with self._lock:
            self.submitted.append(run)

    def cancel(self, run: Run) -> None:
        with self._lock:
            self.cancelled.append(run)

    def ping(self) -> bool:
        return not self.fail_submits

    @property
    def submitted_ids(self) -> list[str]:
        with self._lock:
            return [r.id for r in self.submitted]

    @property
    def cancelled_ids(self) -> list[str]:
        with self._lock:
            return [r.id for r in self.cancelled]


class MemoryArtifactStore(ArtifactStore):
    CHUNK = 64 * 1024

    def __init__(self, presign_base: str | None = None) -> None:
        self._blobs: dict[str, bytes] = {}
        self._refs: dict[str, ArtifactRef] = {}
        self._presign_base = presign_base  # e.g. "http://s3.test/" to mimic S3
        self._lock = threading.Lock()

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> ArtifactRef:
        digest = hashlib.sha256()
        parts = []
        while chunk := stream.read(self.CHUNK):
            digest.update(chunk)
            parts.append(chunk)
        data = b"".join(parts)
        ref = ArtifactRef(key=key, sha256=digest.hexdigest(), size_bytes=len(data))
        with self._lock:
            self._blobs[key] = data
            self._refs[key] = ref
        return ref

    def open(self, key: str) -> Iterator[bytes]:
        with self._lock:
            data = self._blobs.get(key)
            ref = self._refs.get(key)
        if data is None or ref is None:
            raise NotFound(f"artifact {key!r} not found", details={"key": key})
        return self._chunks(key, data, ref.sha256)

    def _chunks(self, key: str, data: bytes, expected: str) -> Iterator[bytes]:
        digest = hashlib.sha256()
        for i in range(0, len(data), self.CHUNK):
            chunk = data[i : i + self.CHUNK]
            digest.update(chunk)
            yield chunk
        if digest.hexdigest() != expected:
            raise ArtifactIntegrityError(f"artifact {key!r} does not match its sha256")

    def stat(self, key: str) -> ArtifactRef | None:
        with self._lock:
            return self._refs.get(key)

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self._blobs

    def list(self, prefix: str) -> list[ArtifactRef]:
        with self._lock:
            return [ref for key, ref in sorted(self._refs.items()) if key.startswith(prefix)]

    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        if self._presign_base is None:
            return None
        return f"{self._presign_base}{key}?expires={expires_s}"

    def download_to(self, key: str, path: str) -> ArtifactRef:
        with open(path, "wb") as f:
            for chunk in self.open(key):
                f.write(chunk)
        ref = self.stat(key)
        assert ref is not None
        return ref

    def corrupt(self, key: str) -> None:
        """Flip the stored bytes without updating the recorded sha256 (tests)."""
        with self._lock:
            self._blobs[key] = self._blobs[key] + b"\x00"
