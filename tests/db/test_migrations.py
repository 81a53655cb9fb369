"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from tests.helpers import portal_run, services


def test_migrated_database_matches_the_models(client: TestClient) -> None:
    engine = services(client).engine

    async def diff() -> list[object]:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )

    assert portal_run(client, diff) == [], "the models changed: add a migration (see README)"


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(client: TestClient) -> None:
    engine = services(client).engine
    if engine.dialect.name != "sqlite":
        assert engine.dialect.name == "postgresql"
        return

    async def pragmas() -> tuple[str, int]:
        async with engine.connect() as connection:
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
            return mode, timeout

    assert portal_run(client, pragmas) == ("wal", 5000)
