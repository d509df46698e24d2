"""The metadata schema as SQLAlchemy Core tables (the migrations create exactly this).

Each resource is one row: the columns the store filters, orders or updates on
their own, plus `doc`, the whole msgspec struct as JSON, so a row round-trips
the domain struct exactly. Where a column is updated without rewriting `doc`
(a track's head, an agent's compute seconds, a run's heartbeat), the column is
the truth and overrides the field decoded from `doc`.

Times are integer microseconds since the Unix epoch (UTC): SQLite has no
timestamp type, and integers order and round-trip exactly on both engines.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

ID = 128  # generous for ids; revisions are 64 hex chars

agents = Table(
    "agents",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("create_time_us", BigInteger, nullable=False),
    Column("compute_seconds_used", Float, nullable=False),
    Column("doc", Text, nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("agent_id", String(ID), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("request_id", String(256), primary_key=True),
    Column("resource_id", String(ID), nullable=False),
)

harnesses = Table(
    "harnesses",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("create_time_us", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_harnesses_create", "create_time_us", "id"),
)

tracks = Table(
    "tracks",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("head_revision", String(ID), nullable=False),
    Column("head_run_id", String(ID), nullable=True),
    Column("head_version", Integer, nullable=False),
    Column("noise_std", Float, nullable=True),
    Column("noise_samples", Integer, nullable=False),
    Column("create_time_us", BigInteger, nullable=False),
    Column("update_time_us", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
    # Tests drawn from the track's false-discovery budget (0002).
    Column("fdr_tests", Integer, nullable=False, server_default="0"),
    Index("ix_tracks_create", "create_time_us", "id"),
)

# Every move of a track's head (0002); create_time_us is when it happened.
head_changes = Table(
    "head_changes",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("track_id", String(ID), nullable=False),
    Column("create_time_us", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_head_changes_track", "track_id", "create_time_us", "id"),
)

revisions = Table(
    "revisions",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("track_id", String(ID), nullable=False),
    Column("parent_id", String(ID), nullable=True),
    Column("author_agent_id", String(ID), nullable=False),
    Column("create_time_us", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_revisions_track", "track_id", "create_time_us", "id"),
    Index("ix_revisions_parent", "parent_id"),
)

proposals = Table(
    "proposals",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("track_id", String(ID), nullable=False),
    Column("author_agent_id", String(ID), nullable=False),
    Column("create_time_us", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_proposals_track", "track_id", "create_time_us", "id"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("track_id", String(ID), nullable=False),
    Column("revision_id", String(ID), nullable=False),
    Column("agent_id", String(ID), nullable=False),
    Column("evaluation_id", String(ID), nullable=True),
    Column("state", String(16), nullable=False),
    Column("worker_id", String(256), nullable=True),
    Column("create_time_us", BigInteger, nullable=False),
    Column("start_time_us", BigInteger, nullable=True),
    Column("heartbeat_time_us", BigInteger, nullable=True),
    Column("doc", Text, nullable=False),
    Index("ix_runs_create", "create_time_us", "id"),
    Index("ix_runs_track", "track_id", "create_time_us", "id"),
    Index("ix_runs_revision", "revision_id", "create_time_us", "id"),
    Index("ix_runs_agent_state", "agent_id", "state"),
    Index("ix_runs_state", "state"),
    Index("ix_runs_evaluation", "evaluation_id"),
)

# The primary key (run_id, step, name) is the index every metrics query uses.
metric_points = Table(
    "metric_points",
    metadata,
    Column("run_id", String(ID), primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", Float, nullable=False),
    Column("wall_seconds", Float, nullable=False),
)

# One counter row per run hands out event sequence numbers atomically.
event_counters = Table(
    "event_counters",
    metadata,
    Column("run_id", String(ID), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

run_events = Table(
    "run_events",
    metadata,
    Column("run_id", String(ID), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("type", String(16), nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("run_id", String(ID), nullable=False),
    Column("track_id", String(ID), nullable=False),
    Column("state", String(16), nullable=False),
    Column("create_time_us", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
    # Compare-and-swap token of the sequential rounds (0002).
    Column("version", Integer, nullable=False, server_default="0"),
    Index("ix_evaluations_state", "state", "track_id"),
    Index("ix_evaluations_run", "run_id"),
)
