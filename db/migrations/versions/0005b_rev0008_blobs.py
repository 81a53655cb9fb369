"""blobs: one row per stored image, locked by uploads and deletes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("epoch", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column(
            "state",
            sa.Enum("live", "deleting", name="blobstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blobs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_blobs_touched_at"), ["touched_at"], unique=False)
    # Every image already stored gets its row, as if uploaded with its first file.
    op.execute(
        "INSERT INTO blobs (sha256, epoch, state, pending, touched_at, created_at)"
        " SELECT sha256, 'backfilled', 'live', 0, MIN(uploaded_at), MIN(uploaded_at)"
        " FROM files GROUP BY sha256"
    )


def downgrade() -> None:
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blobs_touched_at"))
        batch_op.drop_index(batch_op.f("ix_blobs_state"))
    op.drop_table("blobs")
