"""a version on each file that the database raises, and the listing's cache

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-27 05:00:00.000000

Every UPDATE of a file row, and every INSERT, UPDATE or DELETE of one of its
predictions, raises `files.version`, by triggers: whoever writes, through the
ORM, Core, raw SQL or another process. `file_listings` keeps each file's
element of GET /files/ under the version it was rendered for, and
`listing_pages` each page of them under a key of its files' ids and versions
(db/listing.py).

A migration that rebuilds `files` or `predictions` (SQLite batch mode copies
the table, and the copy has no triggers) must create these triggers again;
tests/db/test_migrations.py fails when they are missing at head.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As db/files.py has them when this migration was written.
SHORT_FAILURE = "status = 'failed' AND coalesce(length(error), 0) <= 500"
LONG_FAILURE = "status = 'failed' AND length(error) > 500"

SQLITE_TRIGGERS = {
    # A row rewritten with its version unchanged (every ordinary UPDATE) gets
    # the next one. The inner UPDATE raises it, so it does not fire this again.
    "files_version_on_update": """
        CREATE TRIGGER files_version_on_update AFTER UPDATE ON files
        FOR EACH ROW WHEN NEW.version <= OLD.version
        BEGIN
            UPDATE files SET version = OLD.version + 1 WHERE id = NEW.id;
        END
    """,
    "predictions_version_on_insert": """
        CREATE TRIGGER predictions_version_on_insert AFTER INSERT ON predictions
        FOR EACH ROW
        BEGIN
            UPDATE files SET version = version + 1 WHERE id = NEW.file_id;
        END
    """,
    "predictions_version_on_update": """
        CREATE TRIGGER predictions_version_on_update AFTER UPDATE ON predictions
        FOR EACH ROW
        BEGIN
            UPDATE files SET version = version + 1 WHERE id IN (OLD.file_id, NEW.file_id);
        END
    """,
    "predictions_version_on_delete": """
        CREATE TRIGGER predictions_version_on_delete AFTER DELETE ON predictions
        FOR EACH ROW
        BEGIN
            UPDATE files SET version = version + 1 WHERE id = OLD.file_id;
        END
    """,
}

POSTGRESQL_FUNCTIONS = {
    # Never lower, always past the old one: an UPDATE that sets the version
    # itself (the predictions trigger below) is raised once, not twice.
    "files_version_bump": """
        CREATE FUNCTION files_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := GREATEST(NEW.version, OLD.version + 1);
            RETURN NEW;
        END
        $$
    """,
    "predictions_version_bump": """
        CREATE FUNCTION predictions_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- OLD is NULL on INSERT, NEW on DELETE; a file is raised once.
            UPDATE files SET version = version + 1 WHERE id IN (OLD.file_id, NEW.file_id);
            RETURN NULL;
        END
        $$
    """,
}
POSTGRESQL_TRIGGERS = {  # name: (table, DDL)
    "files_version_on_update": (
        "files",
        "CREATE TRIGGER files_version_on_update BEFORE UPDATE ON files"
        " FOR EACH ROW EXECUTE FUNCTION files_version_bump()",
    ),
    "predictions_version_on_change": (
        "predictions",
        "CREATE TRIGGER predictions_version_on_change"
        " AFTER INSERT OR UPDATE OR DELETE ON predictions"
        " FOR EACH ROW EXECUTE FUNCTION predictions_version_bump()",
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))

    # Failure reasons for statistics: the failed files' reasons, where short
    # enough for any index entry (db/files.py), and the few others apart.
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(
            "ix_files_failure_reasons",
            ["status", "error"],
            unique=False,
            sqlite_where=sa.text(SHORT_FAILURE),
            postgresql_where=sa.text(SHORT_FAILURE),
        )
        batch_op.create_index(
            "ix_files_long_failures",
            ["status", "id"],
            unique=False,
            sqlite_where=sa.text(LONG_FAILURE),
            postgresql_where=sa.text(LONG_FAILURE),
        )

    op.create_table(
        "file_listings",
        sa.Column("file_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("shape", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("file_id"),
    )

    op.create_table(
        "listing_pages",
        sa.Column("first_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("shape", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("id_sum", sa.BigInteger(), nullable=False),
        sa.Column("version_sum", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("first_id"),
    )

    if op.get_bind().dialect.name == "postgresql":
        # Pages are megabytes of JSON read whole: stored as they are, not
        # compressed on every write and read.
        op.execute("ALTER TABLE listing_pages ALTER COLUMN body SET STORAGE EXTERNAL")
        for ddl in POSTGRESQL_FUNCTIONS.values():
            op.execute(ddl)
        for _table, ddl in POSTGRESQL_TRIGGERS.values():
            op.execute(ddl)
    else:
        for ddl in SQLITE_TRIGGERS.values():
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, _ddl) in POSTGRESQL_TRIGGERS.items():
            op.execute(f"DROP TRIGGER {name} ON {table}")
        for name in POSTGRESQL_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")

    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_long_failures")
        batch_op.drop_index("ix_files_failure_reasons")
    op.drop_table("listing_pages")
    op.drop_table("file_listings")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("version")
