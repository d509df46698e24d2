"""Decisions v2: recorded head changes, the track's error-budget counter, and the
evaluation version that makes sequential rounds a compare-and-swap.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = 128


def upgrade() -> None:
    op.create_table(
        "head_changes",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("track_id", sa.String(ID), nullable=False),
        sa.Column("create_time_us", sa.BigInteger, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_head_changes_track", "head_changes", ["track_id", "create_time_us", "id"])
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("fdr_tests", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("fdr_tests")
    op.drop_index("ix_head_changes_track", table_name="head_changes")
    op.drop_table("head_changes")
