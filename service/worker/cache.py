"""A worker-local cache of harness directories pulled from the artifact store.

A harness is immutable and content-addressed, so it is downloaded once per
machine (into a temporary directory, every file checked against the sha256 in
the harness record, then renamed into place atomically) and verified once per
worker process. Several workers on one machine share the cache; a file lock
makes sure only one of them downloads.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Protocol

import structlog

from service.domain.models import Harness
from trainer.data.harness import sha256_file
from trainer.data.manifest import MANIFEST

log = structlog.get_logger(__name__)


class HarnessCacheError(Exception):
    """The harness could not be materialised (missing or corrupt objects)."""


class HarnessFiles(Protocol):
    """Where the cache gets a harness's files from (the worker's port)."""

    def download_harness_file(self, harness_id: str, file_name: str, target: str) -> None: ...


class HarnessCache:
    def __init__(self, root: str | Path, files: HarnessFiles) -> None:
        self.root = Path(root) / "harnesses"
        self.root.mkdir(parents=True, exist_ok=True)
        self.files = files
        self._verified: set[str] = set()  # harness ids checked by this process
        self._lock = threading.Lock()

    def path(self, harness_id: str) -> Path:
        return self.root / harness_id

    def ensure(self, harness: Harness) -> Path:
        """The local directory of `harness`, downloading it the first time."""
        with self._lock:
            target = self.path(harness.id)
            if harness.id in self._verified and target.is_dir():
                return target
            with self._machine_lock(harness.id):
                if target.is_dir() and not self._intact(target, harness):
                    log.warning("harness.cache_corrupt", harness_id=harness.id)
                    shutil.rmtree(target)
                if not target.is_dir():
                    self._download(harness, target)
            self._verified.add(harness.id)
            return target

    def _intact(self, directory: Path, harness: Harness) -> bool:
        for name, sha in harness.files.items():
            path = directory / name
            if not path.is_file() or sha256_file(path) != sha:
                return False
        return (directory / MANIFEST).is_file()

    def _download(self, harness: Harness, target: Path) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{harness.id}-", dir=self.root))
        try:
            names = sorted({MANIFEST, *harness.files})
            for name in names:
                try:
                    self.files.download_harness_file(harness.id, name, str(tmp / name))
                except Exception as exc:
                    raise HarnessCacheError(
                        f"cannot fetch {name} of harness {harness.id}: {exc}"
                    ) from exc
            for name, sha in harness.files.items():
                if sha256_file(tmp / name) != sha:
                    raise HarnessCacheError(
                        f"{name} of harness {harness.id} does not match its manifest sha256"
                    )
            os.rename(tmp, target)  # atomic: a reader sees no directory or a whole one
            log.info("harness.cached", harness_id=harness.id, files=len(names))
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _machine_lock(self, harness_id: str) -> _FileLock:
        return _FileLock(self.root / f".{harness_id}.lock")


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> _FileLock:
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
