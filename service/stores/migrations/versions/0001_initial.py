"""Initial schema: agents, requests, harnesses, tracks, revisions, proposals, runs,
metric points, run events, evaluations.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 128


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("key_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("create_time_us", sa.BigInteger, nullable=False),
        sa.Column("compute_seconds_used", sa.Float, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_table(
        "requests",
        sa.Column("agent_id", sa.String(ID), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(256), primary_key=True),
        sa.Column("resource_id", sa.String(ID), nullable=False),
    )
    op.create_table(
        "harnesses",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("create_time_us", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_harnesses_create", "harnesses", ["create_time_us", "id"])
    op.create_table(
        "tracks",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("head_revision", sa.String(ID), nullable=False),
        sa.Column("head_run_id", sa.String(ID), nullable=True),
        sa.Column("head_version", sa.Integer, nullable=False),
        sa.Column("noise_std", sa.Float, nullable=True),
        sa.Column("noise_samples", sa.Integer, nullable=False),
        sa.Column("create_time_us", sa.BigInteger, nullable=False),
        sa.Column("update_time_us", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_tracks_create", "tracks", ["create_time_us", "id"])
    op.create_table(
        "revisions",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("track_id", sa.String(ID), nullable=False),
        sa.Column("parent_id", sa.String(ID), nullable=True),
        sa.Column("author_agent_id", sa.String(ID), nullable=False),
        sa.Column("create_time_us", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_revisions_track", "revisions", ["track_id", "create_time_us", "id"])
    op.create_index("ix_revisions_parent", "revisions", ["parent_id"])
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("track_id", sa.String(ID), nullable=False),
        sa.Column("author_agent_id", sa.String(ID), nullable=False),
        sa.Column("create_time_us", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_proposals_track", "proposals", ["track_id", "create_time_us", "id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("track_id", sa.String(ID), nullable=False),
        sa.Column("revision_id", sa.String(ID), nullable=False),
        sa.Column("agent_id", sa.String(ID), nullable=False),
        sa.Column("evaluation_id", sa.String(ID), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("worker_id", sa.String(256), nullable=True),
        sa.Column("create_time_us", sa.BigInteger, nullable=False),
        sa.Column("start_time_us", sa.BigInteger, nullable=True),
        sa.Column("heartbeat_time_us", sa.BigInteger, nullable=True),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_runs_create", "runs", ["create_time_us", "id"])
    op.create_index("ix_runs_track", "runs", ["track_id", "create_time_us", "id"])
    op.create_index("ix_runs_revision", "runs", ["revision_id", "create_time_us", "id"])
    op.create_index("ix_runs_agent_state", "runs", ["agent_id", "state"])
    op.create_index("ix_runs_state", "runs", ["state"])
    op.create_index("ix_runs_evaluation", "runs", ["evaluation_id"])
    op.create_table(
        "metric_points",
        sa.Column("run_id", sa.String(ID), primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("wall_seconds", sa.Float, nullable=False),
    )
    op.create_table(
        "event_counters",
        sa.Column("run_id", sa.String(ID), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "run_events",
        sa.Column("run_id", sa.String(ID), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("run_id", sa.String(ID), nullable=False),
        sa.Column("track_id", sa.String(ID), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("create_time_us", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_evaluations_state", "evaluations", ["state", "track_id"])
    op.create_index("ix_evaluations_run", "evaluations", ["run_id"])


def downgrade() -> None:
    for table in (
        "evaluations",
        "run_events",
        "event_counters",
        "metric_points",
        "runs",
        "proposals",
        "revisions",
        "tracks",
        "harnesses",
        "requests",
        "agents",
    ):
        op.drop_table(table)
