"""the best guess on each file row, for statistics and the make filter

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# files column <- predictions column, of the rank 1 prediction
_COPIED = {
    "top_label": "label",
    "top_make": "make",
    "top_model": "model",
    "top_confidence": "confidence",
}


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("top_label", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column("top_make", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("top_model", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )
        batch_op.add_column(sa.Column("top_confidence", sa.Float(), nullable=True))

    # Backfill: files recognized before this migration get their best guess.
    files = sa.table("files", sa.column("id"), *(sa.column(name) for name in _COPIED))
    predictions = sa.table(
        "predictions",
        sa.column("file_id"),
        sa.column("rank"),
        *(sa.column(c) for c in _COPIED.values()),
    )

    def best(column: str) -> sa.ScalarSelect[object]:
        return (
            sa.select(predictions.c[column])
            .where(predictions.c.file_id == files.c.id, predictions.c.rank == 1)
            .scalar_subquery()
        )

    op.execute(
        files.update()
        .where(sa.exists().where(predictions.c.file_id == files.c.id, predictions.c.rank == 1))
        .values({name: best(column) for name, column in _COPIED.items()})
    )

    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index("ix_files_status_top_label", ["status", "top_label"], unique=False)
        batch_op.create_index(
            "ix_files_status_top_make_model", ["status", "top_make", "top_model"], unique=False
        )
        batch_op.create_index(
            "ix_files_status_top_confidence",
            ["status", "top_confidence", "inference_ms"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_status_top_confidence")
        batch_op.drop_index("ix_files_status_top_make_model")
        batch_op.drop_index("ix_files_status_top_label")
        batch_op.drop_column("top_confidence")
        batch_op.drop_column("top_model")
        batch_op.drop_column("top_make")
        batch_op.drop_column("top_label")
