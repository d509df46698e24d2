"""A harness on disk: the fixed, content-addressed half of every experiment.

Layout (see docs/INTERFACES.md, "Harness on disk"):

    manifest.json          format, id, sizes, file list with sha256 of every file
    harness_config.json    the settings that define the harness (seq_len, budget, metric...),
                           kept as a hashed file so that they are part of the id
    tokenizer.pkl          mergeable ranks + special tokens (a plain pickled dict)
    train_NNNN.bin/.idx    token ids, documents concatenated (each starts with BOS) / doc offsets
    val_tokens.bin         int32 [val_rows, seq_len + 1], packed BOS-aligned rows
    token_bytes.bin        int32 [vocab_size], UTF-8 bytes per token, 0 for special tokens

The harness id is the first 16 hex chars of sha256 over the sorted `files` mapping, so the
same input gives the same id and any change to any file gives another one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.manifest import (
    FORMAT,
    MANIFEST,
    HarnessError,
    Manifest,
    decode_manifest,
    read_manifest,
)

CONFIG = "harness_config.json"
TOKENIZER = "tokenizer.pkl"
VAL_TOKENS = "val_tokens.bin"
TOKEN_BYTES = "token_bytes.bin"
METRIC = "val_bpb"

# Manifest fields that define the harness; they live in harness_config.json too, so they are hashed.
CONFIG_FIELDS = (
    "vocab_size",
    "bos_token_id",
    "seq_len",
    "val_rows",
    "eval_tokens",
    "time_budget_s",
    "metric",
    "token_dtype",
)


def train_shard_names(index: int) -> tuple[str, str]:
    return f"train_{index:04d}.bin", f"train_{index:04d}.idx"


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def compute_harness_id(files: dict[str, str]) -> str:
    """First 16 hex chars of sha256 over the sorted `name sha256` lines of every file."""
    lines = "".join(f"{name} {files[name]}\n" for name in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Harness:
    """A loaded harness. Loading reads only the manifest; `verify()` checks every file.

    A training sandbox may hold only `train_files()`: loading and the train shards work
    without the validation files, which only the trusted evaluation reads.
    """

    path: Path
    manifest: Manifest

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Harness:
        """Read and check the manifest (trainer.data.manifest); no data file is read."""
        return cls(Path(path), read_manifest(path))

    # --- the manifest's fields ---

    @property
    def harness_id(self) -> str:
        return self.manifest.harness_id

    @property
    def vocab_size(self) -> int:
        return self.manifest.vocab_size

    @property
    def bos_token_id(self) -> int:
        return self.manifest.bos_token_id

    @property
    def seq_len(self) -> int:
        return self.manifest.seq_len

    @property
    def val_rows(self) -> int:
        return self.manifest.val_rows

    @property
    def eval_tokens(self) -> int:
        return self.manifest.eval_tokens

    @property
    def time_budget_s(self) -> float:
        return self.manifest.time_budget_s

    @property
    def token_dtype(self) -> np.dtype[Any]:
        return np.dtype(self.manifest.token_dtype)

    @property
    def train_shards(self) -> list[tuple[Path, Path]]:
        """(tokens .bin, offsets .idx) paths of every training shard, in order."""
        shards = []
        for name in self.manifest.train_shards:
            stem = name.removesuffix(".bin")
            shards.append((self.path / f"{stem}.bin", self.path / f"{stem}.idx"))
        return shards

    def train_files(self) -> list[str]:
        """Names of the files a training process needs (no validation data)."""
        names = [MANIFEST, CONFIG, TOKENIZER]
        for bin_path, idx_path in self.train_shards:
            names += [bin_path.name, idx_path.name]
        return names

    # --- data ---

    def val_rows_array(self) -> np.ndarray:
        """The pinned validation rows, int32 [val_rows, seq_len + 1], each starting with BOS."""
        path = self.path / VAL_TOKENS
        rows = _read_array(path, np.int32)
        expected = self.val_rows * (self.seq_len + 1)
        if rows.size != expected:
            raise HarnessError(
                f"{path} holds {rows.size} tokens, expected val_rows * (seq_len + 1) = {expected}"
            )
        return rows.reshape(self.val_rows, self.seq_len + 1)

    def val_inputs(self) -> np.ndarray:
        """int32 [val_rows, seq_len]: what the model sees."""
        return np.ascontiguousarray(self.val_rows_array()[:, :-1])

    def val_targets(self) -> np.ndarray:
        """int32 [val_rows, seq_len]: the next token at each input position."""
        return np.ascontiguousarray(self.val_rows_array()[:, 1:])

    def token_bytes(self) -> np.ndarray:
        """int32 [vocab_size]: UTF-8 byte length of each token, 0 for special tokens."""
        path = self.path / TOKEN_BYTES
        token_bytes = _read_array(path, np.int32)
        if token_bytes.size != self.vocab_size:
            raise HarnessError(
                f"{path} holds {token_bytes.size} entries, vocab_size is {self.vocab_size}"
            )
        return token_bytes

    @cached_property
    def _tokenizer_data(self) -> dict[str, Any]:
        from trainer.data.tokenizer import load_tokenizer_data  # imports tiktoken: on use only

        return load_tokenizer_data(self.path / TOKENIZER)

    def tokenizer(self) -> Any:
        """The harness's `tiktoken.Encoding` (BOS and the other specials included)."""
        from trainer.data.tokenizer import encoding_from_data

        return encoding_from_data(self._tokenizer_data, name=f"loopy-{self.harness_id}")

    # --- integrity ---

    def verify(self, names: Iterable[str] | None = None) -> None:
        """Check the sha256 of every listed file (or of `names` only) and the id itself.

        Raises HarnessError naming the first file that is missing or changed.
        """
        files = self.manifest.files
        if compute_harness_id(files) != self.harness_id:
            raise HarnessError(
                f"{self.path / MANIFEST}: harness_id {self.harness_id} does not match its files"
            )
        wanted = sorted(files) if names is None else [n for n in names if n != MANIFEST]
        for name in wanted:
            if name not in files:
                raise HarnessError(f"{name} is not part of harness {self.harness_id}")
            path = self.path / name
            if not path.is_file():
                raise HarnessError(f"harness {self.harness_id}: {path} is missing")
            if sha256_file(path) != files[name]:
                raise HarnessError(f"harness {self.harness_id}: {path} does not match its sha256")
        if CONFIG in wanted:
            config = json.loads((self.path / CONFIG).read_text())
            for field in CONFIG_FIELDS:
                value = getattr(self.manifest, field)
                if config.get(field) != value:
                    raise HarnessError(
                        f"harness {self.harness_id}: manifest {field}={value!r} "
                        f"differs from {CONFIG} ({config.get(field)!r})"
                    )


def _read_array(path: Path, dtype: type[np.generic]) -> np.ndarray:
    try:
        return np.fromfile(path, dtype=dtype)
    except FileNotFoundError:
        raise HarnessError(f"{path} not found") from None
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot read {path}: {exc}") from None


def write_harness_files(
    out_dir: Path, config: dict[str, Any], description: str, extra: dict[str, Any]
) -> Harness:
    """Hash every data file in `out_dir`, write harness_config.json and manifest.json.

    Called last by prepare(): the data files must already be in place.
    """
    (out_dir / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    files = {
        path.name: sha256_file(path)
        for path in sorted(out_dir.iterdir())
        if path.is_file() and path.name != MANIFEST
    }
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "harness_id": compute_harness_id(files),
        **config,
        "description": description,
        **extra,
        "files": files,
    }
    checked = decode_manifest(manifest)  # what every reader will check, checked before writing
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return Harness(out_dir, checked)
