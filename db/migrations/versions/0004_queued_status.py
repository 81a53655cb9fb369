"""queued status

A file whose recognition job waits in a queue is `queued`. The status column is a
non-native enum (VARCHAR(16) with no CHECK constraint, see 0001), so the new
value needs no DDL on SQLite or PostgreSQL; this revision records the change and
undoes it: going down, queued files are pending again (recognition not started).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    op.execute("UPDATE files SET status = 'pending' WHERE status = 'queued'")
