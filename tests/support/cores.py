"""A domain core as the transport and client tests build it: the SQL metadata store
(SQLite in memory unless a URL is given), in-memory artifacts and a recording
dispatcher, so a test plays the worker itself through claim_run / complete_run."""

from __future__ import annotations

from datetime import UTC, datetime

from service.domain.models import Harness
from service.domain.service import DomainSettings, Loopy
from service.stores import open_metadata_store
from tests.support.fakes import MemoryArtifactStore, RecordingDispatcher
from tests.support.stores import memory_store

# What the tracks of these tests start from: the service stores and diffs it, never runs it.
TINY_TRAIN_SOURCE = '''"""A tiny train.py for service tests (never executed by them)."""
import torch

LEARNING_RATE = 3e-4  # AdamW


def build_model(config):
    return torch.nn.Embedding(config["vocab_size"], config["vocab_size"])


def train(ctx):
    model = build_model({"vocab_size": ctx.vocab_size})
    ctx.save(model, {"vocab_size": ctx.vocab_size})
'''


def make_core(database_url: str = "", settings: DomainSettings | None = None) -> Loopy:
    """A core over the metadata store at `database_url` (default: SQLite in memory);
    close it with `core.meta.close()`."""
    meta = open_metadata_store(database_url) if database_url else memory_store()
    return Loopy(meta, MemoryArtifactStore(), RecordingDispatcher(), settings)


def harness_record(
    harness_id: str = "harness0001",
    *,
    description: str = "tiny test harness",
    time_budget_s: float = 10.0,
    size_bytes: int = 1234,
    create_time: datetime | None = None,
) -> Harness:
    """A registered harness as the store keeps it (its files are the trainer's business)."""
    return Harness(
        id=harness_id,
        description=description,
        vocab_size=256,
        seq_len=64,
        eval_tokens=4096,
        bos_token_id=0,
        time_budget_s=time_budget_s,
        metric="val_bpb",
        files={"manifest.json": "0" * 64},
        size_bytes=size_bytes,
        create_time=create_time or datetime(2025, 1, 1, tzinfo=UTC),
    )
