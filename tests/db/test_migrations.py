"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import ast
import asyncio
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from db.catalog import catalog_key
from db.engine import create_engine
from db.migrate import MIGRATIONS
from recognition.prompts import entry_label
from testkit.catalog import seed_entries
from tests.helpers import portal_run, services


def test_migrated_database_matches_the_models(client: TestClient) -> None:
    engine = services(client).engine

    async def diff() -> list[object]:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )

    assert portal_run(client, diff) == [], (
        "the models changed: add a migration (see docs/development.md)"
    )


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


BEFORE_0009 = "0006"  # the revision 0009 follows


def test_0009_versions_rise_on_every_write_through_its_triggers_and_go_back_down(
    database_url: str,
) -> None:
    """Files written before 0009 start at version 1; then any UPDATE of a file,
    and any change to its predictions, raises it (however it is written); a
    downgrade removes the triggers with the column, and the upgrade comes back."""
    files = sa.table(
        "files", *(sa.column(n) for n in ("id", "filename", "stored_key", "sha256", "mime_type")),
        *(sa.column(n) for n in ("size", "width", "height", "status")),
        sa.column("uploaded_at", sa.DateTime(timezone=True)),
    )  # fmt: skip

    def migrate_to(connection: Connection, revision: str, *, down: bool = False) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    async def run() -> tuple[list[int], set[str], set[str]]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate_to, BEFORE_0009)
                row = {"filename": "x.jpg", "mime_type": "image/jpeg", "size": 1, "width": 1}
                row |= {"height": 1, "uploaded_at": datetime.now(UTC), "status": "pending"}
                await connection.execute(
                    files.insert(), [{**row, "id": 1, "stored_key": "k", "sha256": "s"}]
                )
                await connection.run_sync(migrate_to, "head")
                await connection.commit()
                seen = [await _version(connection)]
                for statement in (
                    "UPDATE files SET status = 'done' WHERE id = 1",
                    "UPDATE files SET filename = 'y.jpg', version = 1 WHERE id = 1",
                    "INSERT INTO predictions (file_id, rank, label, confidence)"
                    " VALUES (1, 1, 'BMW M3 Coupe 2012', 0.5)",
                    "UPDATE predictions SET confidence = 0.75 WHERE file_id = 1",
                    "DELETE FROM predictions WHERE file_id = 1",
                ):
                    await connection.execute(sa.text(statement))
                    await connection.commit()
                    seen.append(await _version(connection))
                at_head = await _triggers(connection)
                await connection.run_sync(migrate_to, BEFORE_0009, down=True)
                await connection.commit()
                after_downgrade = await _triggers(connection)
                await connection.run_sync(migrate_to, "head")
                await connection.commit()
                assert await _version(connection) == 1
                return seen, at_head, after_downgrade
        finally:
            await engine.dispose()

    seen, at_head, after_downgrade = asyncio.run(run())
    assert seen == [1, 2, 3, 4, 5, 6]
    assert at_head >= {"files_version_on_update"}
    assert len(at_head) >= 2  # and on predictions
    assert after_downgrade == set()


async def _version(connection: AsyncConnection) -> int:
    return int((await connection.execute(sa.text("SELECT version FROM files"))).scalar_one())


async def _triggers(connection: AsyncConnection) -> set[str]:
    if connection.dialect.name == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return {name for (name,) in (await connection.execute(sa.text(query))).all()}


def test_the_version_triggers_exist_at_head(client: TestClient) -> None:
    """A later migration that rebuilds `files` or `predictions` (SQLite batch
    mode copies a table without its triggers) must create them again: the
    listing's cache depends on them (db/listing.py)."""
    engine = services(client).engine

    async def triggers() -> set[str]:
        async with engine.connect() as connection:
            return await _triggers(connection)

    expected = {"files_version_on_update"}
    if engine.dialect.name == "postgresql":
        expected |= {"predictions_version_on_change"}
    else:
        expected |= {f"predictions_version_on_{op}" for op in ("insert", "update", "delete")}
    assert portal_run(client, triggers) >= expected


VERSIONS = MIGRATIONS / "versions"
# What a migration may import: the migration tools and the standard library.
# Never the application, whose later changes would change what an old
# migration does (db/migrations/README.md).
MIGRATION_IMPORTS = {"alembic", "sqlalchemy", "sqlmodel", "collections", "datetime", "typing"}


def test_migrations_import_nothing_of_the_application() -> None:
    for path in sorted(VERSIONS.glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        } | {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert imported <= MIGRATION_IMPORTS, f"{path.name} imports {imported - MIGRATION_IMPORTS}"


def test_migration_files_sort_in_chain_order() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    chain = [rev.path for rev in reversed(list(script.walk_revisions()))]
    names = [Path(path).name for path in chain]
    assert names == sorted(p.name for p in VERSIONS.glob("*.py"))


def test_the_seeded_catalog_is_what_the_migration_froze(client: TestClient) -> None:
    async def entries() -> list[tuple[object, ...]]:
        async with services(client).engine.connect() as connection:
            result = await connection.execute(
                sa.text(
                    "SELECT make, model, body_type, year_from, year_to, key"
                    " FROM catalog_entries ORDER BY id"
                )
            )
            return [tuple(row) for row in result]

    rows = portal_run(client, entries)
    assert len(rows) == 196 + 458
    frozen = seed_entries()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        (e.make, e.model, e.body_type, e.year_from, e.year_to) for e in frozen
    ]
    labels = (Path(__file__).parents[2] / "testkit" / "stanford_cars_classes.txt").read_text()
    assert [entry_label(e) for e in frozen[:196]] == labels.splitlines()
    assert [r[5] for r in rows] == [catalog_key(entry_label(e)) for e in frozen]
