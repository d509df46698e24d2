"""Artifact store on any S3 API (AWS, MinIO, ...) through the `minio` client.

The sha256 of every object travels as user metadata (`x-amz-meta-sha256`).
S3 takes metadata with the first byte of an upload, so `put` hashes the stream
before sending it: a seekable stream (a file) is read twice, an unseekable one
is spooled to a temporary file first. Either way memory stays at one part.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import BinaryIO
from urllib.parse import urlparse

import urllib3
from minio import Minio
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from service.domain.errors import InvalidArgument, NotFound, Unavailable
from service.domain.models import ArtifactRef
from service.domain.ports import ArtifactIntegrityError, ArtifactStore
from service.settings import Settings
from service.stores.artifacts import (
    CHUNK_BYTES,
    Digest,
    HashingReader,
    integrity_error,
    started,
    validate_key,
    validate_prefix,
    write_verified_file,
)

PART_BYTES = 16 << 20  # multipart part size; the client holds one part in memory
SHA256_META = "x-amz-meta-sha256"
# A missing bucket holds no object: reading from it is NotFound (writing makes it).
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound", "NoSuchBucket"})
RETRY_AFTER_S = 5.0
# Fail fast on a dead endpoint (the worker's spool and the sweeper do the long retries).
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 60.0


@contextmanager
def _s3_errors(key: str = "") -> Iterator[None]:
    """Missing objects become NotFound; a server that is down or refuses us, Unavailable."""
    try:
        yield
    except S3Error as error:
        if error.code in _NOT_FOUND_CODES:
            raise NotFound(f"artifact {key!r} not found", details={"key": key}) from None
        raise Unavailable(
            f"artifact store refused the request: {error.code}",
            details={"key": key},
            retry_after_s=RETRY_AFTER_S,
        ) from error
    except (HTTPError, OSError) as error:
        raise Unavailable(
            "artifact store unreachable", details={"key": key}, retry_after_s=RETRY_AFTER_S
        ) from error


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


class S3ArtifactStore(ArtifactStore):
    def __init__(self, client: Minio, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        # The bucket is made on first use and again whenever a write finds it gone (a
        # server restarted empty), so no process needs a restart and a store that is
        # down at start-up does not stop one.
        self._bucket_ready = False
        try:
            self._ensure_bucket()
        except Unavailable:
            pass

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with _s3_errors():
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as error:  # another process made it first
                    if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        self._bucket_ready = True

    def ping(self) -> bool:
        self._bucket_ready = False  # checked, not assumed
        try:
            self._ensure_bucket()
        except Unavailable:
            return False
        return True

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> S3ArtifactStore:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidArgument(
                "artifacts URL must look like s3://bucket/optional/prefix", details={"url": url}
            )
        endpoint = settings.s3_endpoint or "s3.amazonaws.com"
        secure = settings.s3_secure
        if "://" in endpoint:  # an explicit scheme wins over LOOPY_S3_SECURE
            scheme, _, endpoint = endpoint.partition("://")
            secure = scheme == "https"
        client = Minio(
            endpoint.rstrip("/"),
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
            secure=secure,
            region=settings.s3_region or None,
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
                maxsize=10,
                retries=urllib3.Retry(
                    total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
                ),
            ),
        )
        return cls(client, parsed.netloc, parsed.path)

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> ArtifactRef:
        name = self._name(key)
        with ExitStack() as stack:
            source = stream
            if not _seekable(stream):
                source = stack.enter_context(tempfile.TemporaryFile())
                shutil.copyfileobj(stream, source, CHUNK_BYTES)
                source.seek(0)
            start = source.tell()
            first_pass = HashingReader(source)
            while first_pass.read(CHUNK_BYTES):
                pass
            if size is not None and first_pass.size != size:
                raise InvalidArgument(
                    f"artifact stream had {first_pass.size} bytes, {size} were announced",
                    details={"key": key},
                )
            sha256 = first_pass.hexdigest()
            source.seek(start)
            upload = HashingReader(source)  # checks that the bytes sent are the bytes hashed
            self._ensure_bucket()
            with _s3_errors(key):
                try:
                    self._put_object(name, upload, first_pass.size, sha256)
                except S3Error as error:
                    if error.code != "NoSuchBucket":
                        raise
                    self._bucket_ready = False  # the server lost it: make it and retry once
                    self._ensure_bucket()
                    source.seek(start)
                    upload = HashingReader(source)
                    self._put_object(name, upload, first_pass.size, sha256)
                if upload.hexdigest() != sha256:
                    self.client.remove_object(self.bucket, name)
                    raise ArtifactIntegrityError(f"artifact {key!r} changed while uploading")
        return ArtifactRef(key=key, sha256=sha256, size_bytes=first_pass.size)

    def _put_object(self, name: str, upload: HashingReader, size: int, sha256: str) -> None:
        self.client.put_object(
            self.bucket,
            name,
            upload,  # type: ignore[arg-type]  # minio only calls read()
            length=size,
            part_size=PART_BYTES,
            num_parallel_uploads=1,
            metadata={"sha256": sha256},
        )

    def open(self, key: str) -> Iterator[bytes]:
        return started(self._chunks(key))

    def _chunks(self, key: str) -> Iterator[bytes]:
        name = self._name(key)
        with _s3_errors(key):
            response = self.client.get_object(self.bucket, name)
        try:
            expected = response.headers.get(SHA256_META)
            if not expected:
                raise ArtifactIntegrityError(f"artifact {key!r} has no recorded sha256")
            yield b""
            digest = Digest()
            with _s3_errors(key):
                for chunk in response.stream(CHUNK_BYTES):
                    yield digest.update(chunk)
            if digest.hexdigest() != expected:
                raise integrity_error(key, expected, digest.hexdigest(), digest.size)
        finally:
            response.close()
            response.release_conn()

    def stat(self, key: str) -> ArtifactRef | None:
        name = self._name(key)
        try:
            with _s3_errors(key):
                info = self.client.stat_object(self.bucket, name)
        except NotFound:
            return None
        sha256 = (info.metadata or {}).get(SHA256_META, "")
        return ArtifactRef(key=key, sha256=sha256, size_bytes=info.size or 0)

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def list(self, prefix: str) -> list[ArtifactRef]:
        validate_prefix(prefix)
        refs = []
        with _s3_errors(prefix):
            for obj in self.client.list_objects(
                self.bucket, prefix=self.prefix + prefix, recursive=True
            ):
                key = (obj.object_name or "")[len(self.prefix) :]
                # Listings carry no user metadata: one HEAD per object for its sha256.
                try:
                    ref = self.stat(key)
                except InvalidArgument:
                    continue  # not written through Loopy: its name is no valid key
                if ref is not None:
                    refs.append(ref)
        return sorted(refs, key=lambda ref: ref.key)

    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        name = self._name(key)
        with _s3_errors(key):
            url: str = self.client.presigned_get_object(
                self.bucket, name, expires=timedelta(seconds=expires_s)
            )
        return url

    def download_to(self, key: str, path: str) -> ArtifactRef:
        return write_verified_file(key, self.open(key), path)
