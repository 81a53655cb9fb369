"""vehicles: several per photo, each with its own predictions; colours

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-28 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("color", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("color_confidence", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("detector", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )

    op.create_table(
        "vehicles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("color", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("color_confidence", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "rank"),
    )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vehicles_file_id"), ["file_id"], unique=False)

    op.create_table(
        "vehicle_predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("make", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("body_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["vehicle_id"], ["vehicles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("vehicle_id", "rank"),
    )
    with op.batch_alter_table("vehicle_predictions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vehicle_predictions_vehicle_id"), ["vehicle_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("vehicle_predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicle_predictions_vehicle_id"))
    op.drop_table("vehicle_predictions")
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicles_file_id"))
    op.drop_table("vehicles")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("detector")
        batch_op.drop_column("color_confidence")
        batch_op.drop_column("color")
