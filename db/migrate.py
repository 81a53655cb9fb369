"""Bring the database schema up to date at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(_upgrade)
        await connection.commit()


# Any fixed number: every process of one database takes the same lock.
STARTUP_LOCK = 0x63617273  # "cars"


@asynccontextmanager
async def startup_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Held while a process migrates and tidies up at start-up. Replicas and
    workers started at the same moment on a new database then take turns: the
    first migrates and sweeps, the others wait and find it done. PostgreSQL
    only (a session-level advisory lock on a connection of its own); a SQLite
    database belongs to one process and needs none."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as connection:
        await connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
        await connection.commit()
        try:
            yield
        finally:
            await connection.execute(
                sa.text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK}
            )
            await connection.commit()
