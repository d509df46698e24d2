"""Tiny corpora written by the tests, and helpers to read a harness back as documents."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]

WORDS = (
    "the of and to in is was for on are with as his they be at one have this from or had by "
    "word but what some we can out other were all there when up use your how said an each she "
    "which do their time if will way about many then them would write like so these her long "
    "make thing see him two has look more day could go come did number sound no most people my "
    "over know water than call first who may down side been now find river stone light garden"
).split()


def make_documents(count: int, seed: int = 0) -> list[str]:
    """Distinct pseudo-English documents of 3..60 words."""
    rng = random.Random(seed)
    docs = []
    for index in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 60))]
        docs.append(f"Note {index}: " + " ".join(words) + ".")
    return docs


@pytest.fixture
def documents() -> list[str]:
    return make_documents(160)


def write_jsonl(path: Path, docs: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": d, "id": i}) + "\n" for i, d in enumerate(docs)))
    return path


def write_parquet(path: Path, docs: list[str], row_group_size: int = 32) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": docs}), path, row_group_size=row_group_size)
    return path


def write_txt(path: Path, docs: list[str]) -> Path:
    path.write_text("\n\n".join(docs) + "\n")
    return path


# Small settings that keep prepare() well under a second.
TINY = {"vocab_size": 320, "seq_len": 32, "val_tokens": 96, "threads": 2}


def train_documents(harness) -> list[np.ndarray]:
    """Every training document of a harness, as int64 arrays (BOS first)."""
    docs = []
    for bin_path, idx_path in harness.train_shards:
        tokens = np.fromfile(bin_path, dtype=harness.token_dtype).astype(np.int64)
        offsets = np.fromfile(idx_path, dtype=np.int64)
        docs += [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return docs


def split_at_bos(row: np.ndarray, bos: int) -> list[np.ndarray]:
    starts = np.flatnonzero(row == bos).tolist() + [len(row)]
    return [row[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]


def load_reference_packer():
    path = REPO / "bench" / "reference_packer.py"
    spec = importlib.util.spec_from_file_location("reference_packer", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_packer", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tools():
    """This module's helpers (test files cannot import conftest under importlib mode)."""
    return sys.modules[__name__]


@pytest.fixture
def tiny_harness(tmp_path, documents, tools):
    from trainer.data.prepare import prepare

    source = tools.write_jsonl(tmp_path / "docs.jsonl", documents)
    return prepare([source], tmp_path / "harness", **TINY)
