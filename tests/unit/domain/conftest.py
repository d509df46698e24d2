"""Fixtures for the domain core: the SQL store on SQLite in memory, a recording
dispatcher and in-memory artifacts; a test plays the worker through claim_run / complete_run."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.domain.models import (
    AgentQuota,
    DecisionPolicy,
    Principal,
    RunOutcome,
    RunState,
    RunSummary,
    Track,
)
from service.domain.service import (
    CreateAgentRequest,
    CreateHarnessRequest,
    CreateTrackRequest,
    DomainSettings,
    Loopy,
)
from service.stores import open_metadata_store
from tests.support.fakes import MemoryArtifactStore, RecordingDispatcher
from tests.support.stores import memory_store

BASELINE = '''"""A tiny train.py for domain tests."""
import math

import torch

# --- Hyperparameters ---

LR = 0.01  # learning rate

BATCH = 8  # rows per step
SEQ = 64  # tokens per row

DEPTH = 2  # layers


def build_model(config):
    return torch.nn.Linear(4, 4)


def train(ctx):
    model = build_model({})
    for step in range(10):
        ctx.report(step, loss=math.exp(-step * LR))
    ctx.save(model, {})
'''


def write_harness(directory: Path, harness_id: str = "h0123456789abcde") -> Path:
    """A minimal harness directory: a manifest and two files with their sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    contents = {"train_0000.bin": b"\x01\x02" * 100, "val_tokens.bin": b"\x03" * 64}
    files = {}
    for name, data in contents.items():
        (directory / name).write_bytes(data)
        files[name] = hashlib.sha256(data).hexdigest()
    manifest = {
        "format": "loopy-harness/1",
        "harness_id": harness_id,
        "vocab_size": 512,
        "bos_token_id": 0,
        "seq_len": 64,
        "val_rows": 4,
        "eval_tokens": 256,
        "time_budget_s": 5.0,
        "metric": "val_bpb",
        "description": "test harness",
        "token_dtype": "uint16",
        "train_shards": ["train_0000.bin"],
        "files": files,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def open_store(tmp_path: Path):
    """SQLite in memory; LOOPY_DOMAIN_TEST_STORE=sqlite runs the same suite on a SQLite
    file (several connections, so concurrent calls really interleave)."""
    if os.environ.get("LOOPY_DOMAIN_TEST_STORE") == "sqlite":
        return open_metadata_store(f"sqlite:///{tmp_path / 'loopy.db'}")
    return memory_store()


class World:
    """The core plus the handles tests use to play agents and workers."""

    def __init__(self, tmp_path: Path, settings: DomainSettings | None = None) -> None:
        self.meta = open_store(tmp_path)
        self.artifacts = MemoryArtifactStore()
        self.dispatcher = RecordingDispatcher()
        self.core = Loopy(
            self.meta,
            self.artifacts,
            self.dispatcher,
            settings or DomainSettings(heartbeat_timeout_s=60.0, watch_poll_s=0.02),
        )
        self.tmp_path = tmp_path
        self.baseline = BASELINE
        created = self.core.bootstrap_admin("root")
        self.admin_key = created.api_key
        self.admin = self.core.authenticate(created.api_key)
        self.harness = self.core.create_harness(
            self.admin, CreateHarnessRequest(path=str(write_harness(tmp_path / "harness")))
        )

    def agent(self, name: str, max_queued_runs: int = 8, **quota: float) -> Principal:
        created = self.core.create_agent(
            self.admin,
            CreateAgentRequest(
                name=name, quota=AgentQuota(max_queued_runs=max_queued_runs, **quota)
            ),
        )
        return self.core.authenticate(created.api_key)

    def track(
        self, track_id: str = "tiny-gpt", calibration_runs: int = 0, **policy: object
    ) -> Track:
        return self.core.create_track(
            self.admin,
            CreateTrackRequest(
                track_id=track_id,
                harness_id=self.harness.id,
                baseline_source=BASELINE,
                policy=DecisionPolicy(calibration_runs=calibration_runs, **policy),  # type: ignore[arg-type]
            ),
        )

    def finish(
        self,
        run_id: str,
        val_bpb: float | None,
        worker: str = "w1",
        training_seconds: float = 1.0,
        memory_mb: float = 2048.0,
        speed: float | None = None,
        steps: int = 0,
        sandbox: str = "bubblewrap",
    ):
        """Claim and complete a run as a worker would (`speed`: the worker's speed probe)."""
        assert self.core.claim_run(run_id, worker) is not None
        if val_bpb is None:
            outcome = RunOutcome(state=RunState.FAILED, failure_message="boom")
        else:
            outcome = RunOutcome(
                state=RunState.SUCCEEDED,
                summary=RunSummary(
                    val_bpb=val_bpb,
                    training_seconds=training_seconds,
                    peak_memory_mb=memory_mb,
                    speed_probe=speed,
                    num_steps=steps,
                    sandbox=sandbox,
                ),
            )
        run = self.core.complete_run(run_id, worker, outcome)
        assert run is not None
        return run


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.meta.close()


@pytest.fixture
def make_harness_dir():
    """write_harness(directory, harness_id=...) -> a harness directory on disk."""
    return write_harness
