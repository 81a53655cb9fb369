"""Each test gets its own upload folder and database: a SQLite file, and, when
TEST_DATABASE_URL is set, a fresh PostgreSQL database as well (the `backend`
parameter runs each database test on both)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from config import Settings
from server import create_app

# Nothing in the tests may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]

# Headers a GraphQL multipart client sends to pass the CSRF guard.
PREFLIGHT = {"Apollo-Require-Preflight": "true"}


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    assert PG_URL is not None
    name = f"cars_test_{uuid.uuid4().hex[:12]}"
    admin = _asyncpg_dsn(PG_URL)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # tests never read a developer's .env
        upload_dir=tmp_path / "uploads",
        database_url=database_url,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def stored_images(settings: Settings) -> list[Path]:
    """Every image file on disk, and anything left in tmp/."""
    root = settings.upload_dir
    return sorted(p for p in [*root.glob("images/*/*"), *root.glob("tmp/*")] if p.is_file())
