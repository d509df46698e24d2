"""Artifact store helpers shared by both backends, and the local-directory backend.

Layout of a local store rooted at DIR:

    DIR/objects/<key>        the bytes
    DIR/meta/<key>.json      {"sha256": ..., "size_bytes": ...}

An object becomes visible when its meta file lands; both are written to a
temporary file first and renamed into place, so a reader never sees a partial
object. The two trees keep keys and their records from colliding.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

import msgspec

from service.domain.errors import InvalidArgument, NotFound
from service.domain.models import ArtifactRef
from service.domain.ports import ArtifactIntegrityError, ArtifactStore

CHUNK_BYTES = 1 << 20  # streaming granularity: memory use stays at about one chunk
MAX_KEY_CHARS = 512
# Printable, no backslash, no control characters; segments are checked separately.
_KEY_CHARS = re.compile(r"[A-Za-z0-9._\-=+@,/~]+")


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key; InvalidArgument otherwise."""
    problem = None
    if not key:
        problem = "is empty"
    elif len(key) > MAX_KEY_CHARS:
        problem = f"is longer than {MAX_KEY_CHARS} characters"
    elif not _KEY_CHARS.fullmatch(key):
        problem = "has characters outside A-Z a-z 0-9 . _ - = + @ , / ~"
    elif key.startswith("/"):
        problem = "is absolute"
    elif any(part in ("", ".", "..") for part in key.split("/")):
        problem = "has an empty, '.' or '..' segment"
    if problem:
        raise InvalidArgument(f"artifact key {problem}", details={"key": key})
    return key


def validate_prefix(prefix: str) -> str:
    """Prefixes are keys that may be empty or end with '/'."""
    if prefix:
        validate_key(prefix.rstrip("/") or "/")
    return prefix


class Digest:
    """sha256 and byte count of a stream seen chunk by chunk."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> bytes:
        self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class HashingReader(Digest):
    """Wraps a binary stream; hashes and counts what is read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        return self.update(self._stream.read(size))


def started(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Run a generator to its first `yield` so lookup errors (NotFound) surface at the call.

    Generators below yield an empty chunk once they have opened the object.
    """
    next(chunks)
    return chunks


def integrity_error(key: str, expected: str, actual: str, size: int) -> ArtifactIntegrityError:
    return ArtifactIntegrityError(
        f"artifact {key!r} is corrupt: sha256 {actual} ({size} bytes) "
        f"does not match the recorded {expected}"
    )


def write_verified_file(key: str, chunks: Iterator[bytes], path: str) -> ArtifactRef:
    """Stream `chunks` (which verify themselves at the end) to `path` through a temp file.

    The file appears at `path` only once every byte is written and verified.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    digest = Digest()
    try:
        with open(temp, "wb") as out:
            for chunk in chunks:
                out.write(digest.update(chunk))
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return ArtifactRef(key=key, sha256=digest.hexdigest(), size_bytes=digest.size)


class _Record(msgspec.Struct):
    sha256: str
    size_bytes: int


class LocalArtifactStore(ArtifactStore):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._objects = self.root / "objects"
        self._meta = self.root / "meta"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._meta.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_url(cls, url: str) -> LocalArtifactStore:
        """`file:///abs/dir`; `file://rel/dir` is read as a relative path, because that is
        what settings make of a relative LOOPY_DATA_DIR."""
        parsed = urlparse(url)
        host = "" if parsed.netloc == "localhost" else parsed.netloc
        path = unquote(host + parsed.path)
        if parsed.scheme != "file" or not path:
            raise InvalidArgument(
                "artifacts URL must look like file:///absolute/dir", details={"url": url}
            )
        return cls(path)

    def _paths(self, key: str) -> tuple[Path, Path]:
        validate_key(key)
        return self._objects / key, self._meta / f"{key}.json"

    def _record(self, key: str, meta_path: Path) -> ArtifactRef | None:
        try:
            record = msgspec.json.decode(meta_path.read_bytes(), type=_Record)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ArtifactRef(key=key, sha256=record.sha256, size_bytes=record.size_bytes)

    @staticmethod
    def _atomic_write(target: Path, chunks: Iterator[bytes]) -> None:
        temp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex}")
        try:
            with open(temp, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> ArtifactRef:
        object_path, meta_path = self._paths(key)
        reader = HashingReader(stream)
        try:
            object_path.parent.mkdir(parents=True, exist_ok=True)
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            self._atomic_write(object_path, iter(lambda: reader.read(CHUNK_BYTES), b""))
        except (NotADirectoryError, IsADirectoryError, FileExistsError):
            raise InvalidArgument(
                "artifact key clashes with an existing key (one is a prefix of the other)",
                details={"key": key},
            ) from None
        if size is not None and reader.size != size:
            object_path.unlink(missing_ok=True)
            raise InvalidArgument(
                f"artifact stream had {reader.size} bytes, {size} were announced",
                details={"key": key},
            )
        ref = ArtifactRef(key=key, sha256=reader.hexdigest(), size_bytes=reader.size)
        record = msgspec.json.encode(_Record(ref.sha256, ref.size_bytes))
        self._atomic_write(meta_path, iter([record]))
        return ref

    def open(self, key: str) -> Iterator[bytes]:
        return started(self._chunks(key))

    def _chunks(self, key: str) -> Iterator[bytes]:
        object_path, meta_path = self._paths(key)
        ref = self._record(key, meta_path)
        if ref is None:
            raise NotFound(f"artifact {key!r} not found", details={"key": key})
        try:
            handle = open(object_path, "rb")
        except FileNotFoundError:
            raise ArtifactIntegrityError(f"artifact {key!r} lost its bytes") from None
        with handle:
            yield b""
            digest = Digest()
            while chunk := handle.read(CHUNK_BYTES):
                yield digest.update(chunk)
        if digest.hexdigest() != ref.sha256 or digest.size != ref.size_bytes:
            raise integrity_error(key, ref.sha256, digest.hexdigest(), digest.size)

    def stat(self, key: str) -> ArtifactRef | None:
        return self._record(key, self._paths(key)[1])

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def list(self, prefix: str) -> list[ArtifactRef]:
        validate_prefix(prefix)
        # Walk only the deepest directory the prefix names, then filter by the rest.
        start = self._meta / prefix.rpartition("/")[0] if "/" in prefix else self._meta
        refs = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if not name.endswith(".json"):
                    continue  # a temp file being written
                meta_path = Path(dirpath) / name
                key = meta_path.relative_to(self._meta).as_posix()[: -len(".json")]
                if key.startswith(prefix) and (ref := self._record(key, meta_path)):
                    refs.append(ref)
        return sorted(refs, key=lambda ref: ref.key)

    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        validate_key(key)
        return None

    def download_to(self, key: str, path: str) -> ArtifactRef:
        return write_verified_file(key, self.open(key), path)
