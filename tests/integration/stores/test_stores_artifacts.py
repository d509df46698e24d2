"""One suite for every ArtifactStore: a local directory and a real S3 API server (moto)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.domain.errors import InvalidArgument, NotFound
from service.domain.ports import ArtifactIntegrityError, ArtifactStore
from service.settings import Settings
from service.stores import open_artifact_store
from service.stores.artifacts import CHUNK_BYTES

Artifacts = tuple[ArtifactStore, Callable[[str], None]]


class OneWayStream(io.RawIOBase):
    """A pipe-like stream: readable once, not seekable, size unknown."""

    def __init__(self, data: bytes, piece: int = 70_001) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._piece = piece
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self._piece if size is None or size < 0 else min(size, self._piece)
        chunk = bytes(self._data[self._pos : self._pos + size])
        self._pos += len(chunk)
        return chunk


def blob(n_bytes: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(n_bytes)


def test_streamed_round_trip_of_a_multi_megabyte_file(artifacts: Artifacts, tmp_path: Path) -> None:
    store, _ = artifacts
    data = blob(21 * 1024 * 1024 + 17)  # more than one S3 part, not a whole number of chunks
    source = tmp_path / "ckpt.pt"
    source.write_bytes(data)
    with open(source, "rb") as stream:
        ref = store.put("runs/run-1/checkpoint.pt", stream, size=len(data))
    assert ref.key == "runs/run-1/checkpoint.pt"
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size_bytes == len(data)
    assert store.stat(ref.key) == ref
    chunks = list(store.open(ref.key))
    assert max(len(c) for c in chunks) <= CHUNK_BYTES  # streamed, never one big buffer
    assert b"".join(chunks) == data
    target = tmp_path / "down" / "ckpt.pt"
    assert store.download_to(ref.key, str(target)) == ref
    assert target.read_bytes() == data


def test_unseekable_stream_of_unknown_size(artifacts: Artifacts) -> None:
    store, _ = artifacts
    data = blob(3 * 1024 * 1024 + 5, seed=1)
    ref = store.put("logs/run-2.txt", OneWayStream(data))  # type: ignore[arg-type]
    assert (ref.sha256, ref.size_bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.get_bytes("logs/run-2.txt") == data


def test_small_and_empty_objects(artifacts: Artifacts) -> None:
    store, _ = artifacts
    assert store.put_bytes("a/empty", b"").size_bytes == 0
    assert store.get_bytes("a/empty") == b""
    ref = store.put_bytes("a/hello.txt", b"hello")
    assert ref.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert store.get_bytes("a/hello.txt") == b"hello"
    # Overwriting a key replaces bytes and record together.
    store.put_bytes("a/hello.txt", b"bonjour")
    assert store.get_bytes("a/hello.txt") == b"bonjour"
    stat = store.stat("a/hello.txt")
    assert stat is not None and stat.sha256 == hashlib.sha256(b"bonjour").hexdigest()


def test_announced_size_must_match(artifacts: Artifacts) -> None:
    store, _ = artifacts
    with pytest.raises(InvalidArgument, match="announced"):
        store.put("a/short", io.BytesIO(b"12345"), size=6)
    assert not store.exists("a/short")


def test_corrupted_object_is_detected_on_read(artifacts: Artifacts, tmp_path: Path) -> None:
    store, corrupt = artifacts
    data = blob(2 * CHUNK_BYTES + 123, seed=2)
    store.put_bytes("runs/run-3/checkpoint.pt", data)
    corrupt("runs/run-3/checkpoint.pt")
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        store.get_bytes("runs/run-3/checkpoint.pt")
    target = tmp_path / "ckpt.pt"
    with pytest.raises(ArtifactIntegrityError):
        store.download_to("runs/run-3/checkpoint.pt", str(target))
    assert not target.exists()
    assert list(tmp_path.glob(".ckpt.pt.tmp-*")) == []  # the partial download is gone


def test_missing_key_is_not_found(artifacts: Artifacts, tmp_path: Path) -> None:
    store, _ = artifacts
    with pytest.raises(NotFound):
        store.open("runs/nope/checkpoint.pt")  # at the call, before any iteration
    with pytest.raises(NotFound):
        store.get_bytes("nope")
    with pytest.raises(NotFound):
        store.download_to("nope", str(tmp_path / "x"))
    assert store.stat("nope") is None
    assert store.exists("nope") is False
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside",
        "a/../../outside",
        "a/./b",
        "a//b",
        "a/",
        "a\\b",
        "a\x00b",
        "tab\there",
        "x" * 600,
    ],
)
def test_bad_keys_are_refused(artifacts: Artifacts, key: str) -> None:
    store, _ = artifacts
    with pytest.raises(InvalidArgument, match="artifact key"):
        store.put_bytes(key, b"x")
    with pytest.raises(InvalidArgument, match="artifact key"):
        store.open(key)
    with pytest.raises(InvalidArgument, match="artifact key"):
        store.stat(key)


def test_list_by_prefix(artifacts: Artifacts) -> None:
    store, _ = artifacts
    for key in [
        "runs/r1/log.txt",
        "runs/r1/source.py",
        "runs/r10/log.txt",
        "harness/h/manifest.json",
    ]:
        store.put_bytes(key, key.encode())
    assert [r.key for r in store.list("runs/r1/")] == ["runs/r1/log.txt", "runs/r1/source.py"]
    assert [r.key for r in store.list("runs/r1")] == [
        "runs/r1/log.txt",
        "runs/r1/source.py",
        "runs/r10/log.txt",
    ]
    everything = store.list("")
    assert len(everything) == 4
    assert all(r.sha256 == hashlib.sha256(r.key.encode()).hexdigest() for r in everything)
    assert store.list("nothing/") == []


def test_presigned_url(artifacts: Artifacts, artifact_kind: str) -> None:
    store, _ = artifacts
    data = blob(300_000, seed=3)
    store.put_bytes("runs/r1/checkpoint.pt", data)
    url = store.presigned_url("runs/r1/checkpoint.pt", expires_s=600)
    if artifact_kind == "local":
        assert url is None  # the API serves local bytes itself
        return
    assert url is not None
    response = httpx.get(url)  # no credentials: the URL carries its own signature
    assert response.status_code == 200
    assert response.content == data


def test_s3_store_creates_its_bucket_and_reopens(s3_endpoint: str) -> None:
    settings = Settings(s3_endpoint=s3_endpoint, s3_access_key="k", s3_secret_key="s")
    first = open_artifact_store("s3://loopy-reopen/p", settings)
    first.put_bytes("x", b"1")
    second = open_artifact_store("s3://loopy-reopen/p", settings)  # bucket exists: fine
    assert second.get_bytes("x") == b"1"
    other_prefix = open_artifact_store("s3://loopy-reopen/q", settings)
    assert other_prefix.exists("x") is False


def test_relative_file_url_is_a_relative_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_artifact_store("file://data/artifacts")
    store.put_bytes("k", b"v")
    assert (tmp_path / "data" / "artifacts" / "objects" / "k").read_bytes() == b"v"


@pytest.mark.parametrize("url", ["ftp://host/x", "s3://", "file://", "artifacts"])
def test_unsupported_artifact_urls(url: str) -> None:
    with pytest.raises(InvalidArgument, match="artifacts URL"):
        open_artifact_store(url, Settings())
