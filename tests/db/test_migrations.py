"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from db.engine import create_engine
from db.migrate import MIGRATIONS
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


def test_0003_backfills_the_best_guess_of_files_recognized_before_it(database_url: str) -> None:
    files = sa.table(
        "files", *(sa.column(n) for n in ("id", "filename", "stored_key", "sha256", "mime_type")),
        *(sa.column(n) for n in ("size", "width", "height", "status")),
        sa.column("uploaded_at", sa.DateTime(timezone=True)),
    )  # fmt: skip
    predictions = sa.table(
        "predictions",
        *(sa.column(n) for n in ("file_id", "rank", "label", "confidence", "make", "model")),
    )

    def upgrade(connection: Connection, revision: str) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async def run() -> list[tuple[object, ...]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(upgrade, "0002")
                row = {"filename": "x.jpg", "mime_type": "image/jpeg", "size": 1, "width": 1}
                row |= {"height": 1, "uploaded_at": datetime.now(UTC)}
                await connection.execute(
                    files.insert(),
                    [
                        {**row, "id": i, "stored_key": f"k{i}", "sha256": f"s{i}", "status": s}
                        for i, s in ((1, "done"), (2, "pending"))
                    ],
                )
                await connection.execute(
                    predictions.insert(),
                    [
                        {"file_id": 1, "rank": 2, "label": "Audi S4 Sedan 2012",
                         "confidence": 0.25, "make": "Audi", "model": "S4"},
                        {"file_id": 1, "rank": 1, "label": "BMW M3 Coupe 2012",
                         "confidence": 0.75, "make": "BMW", "model": "M3"},
                    ],
                )  # fmt: skip
                await connection.run_sync(upgrade, "head")
                await connection.commit()
                found = await connection.execute(
                    sa.text(
                        "SELECT id, top_label, top_make, top_model, top_confidence"
                        " FROM files ORDER BY id"
                    )
                )
                return [tuple(r) for r in found.all()]
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == [
        (1, "BMW M3 Coupe 2012", "BMW", "M3", 0.75),
        (2, None, None, None, None),
    ]
