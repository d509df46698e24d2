"""The worker's harness cache: one verified download per machine, atomic, corruption caught."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.domain.ids import harness_key
from service.domain.models import Harness
from service.stores.artifacts import LocalArtifactStore
from service.worker.cache import HarnessCache, HarnessCacheError


class _Files:
    """The harness half of the worker's port, over a bare artifact store."""

    def __init__(self, store: LocalArtifactStore) -> None:
        self.store = store

    def download_harness_file(self, harness_id: str, file_name: str, target: str) -> None:
        self.store.download_to(harness_key(harness_id, file_name), target)


def _publish(store: LocalArtifactStore, harness_id: str, files: dict[str, bytes]) -> Harness:
    shas = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest = json.dumps({"harness_id": harness_id, "files": shas}).encode()
    store.put_bytes(harness_key(harness_id, "manifest.json"), manifest)
    for name, data in files.items():
        store.put_bytes(harness_key(harness_id, name), data)
    return Harness(
        id=harness_id,
        description="",
        vocab_size=256,
        seq_len=8,
        eval_tokens=64,
        bos_token_id=0,
        time_budget_s=2.0,
        metric="val_bpb",
        files=shas,
        size_bytes=sum(map(len, files.values())),
        create_time=datetime.now(UTC),
    )


class CountingStore(LocalArtifactStore):
    downloads = 0

    def download_to(self, key, path):  # type: ignore[no-untyped-def]
        type(self).downloads += 1
        return super().download_to(key, path)


def test_harness_is_downloaded_once_and_verified(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "artifacts")
    harness = _publish(
        store, "h1", {"train_0000.bin": b"\x01\x02" * 1000, "val_tokens.bin": b"v" * 64}
    )

    first = HarnessCache(tmp_path / "cache", _Files(store)).ensure(harness)
    assert (first / "train_0000.bin").read_bytes() == b"\x01\x02" * 1000
    assert (first / "manifest.json").is_file()
    assert CountingStore.downloads == 3

    # A second worker process on the same machine finds it in place.
    again = HarnessCache(tmp_path / "cache", _Files(store)).ensure(harness)
    assert again == first
    assert CountingStore.downloads == 3
    assert not [
        p for p in (tmp_path / "cache" / "harnesses").iterdir() if p.name.startswith(".h1-")
    ]


def test_damaged_cache_is_refetched(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    harness = _publish(store, "h2", {"val_tokens.bin": b"v" * 64})
    path = HarnessCache(tmp_path / "cache", _Files(store)).ensure(harness)
    (path / "val_tokens.bin").write_bytes(b"tampered")

    repaired = HarnessCache(tmp_path / "cache", _Files(store)).ensure(harness)
    assert (repaired / "val_tokens.bin").read_bytes() == b"v" * 64


def test_object_not_matching_the_manifest_is_refused(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    harness = _publish(store, "h3", {"val_tokens.bin": b"v" * 64})
    harness.files["val_tokens.bin"] = "0" * 64  # the record says something else

    with pytest.raises(HarnessCacheError, match="does not match"):
        HarnessCache(tmp_path / "cache", _Files(store)).ensure(harness)
    assert not (tmp_path / "cache" / "harnesses" / "h3").exists()
