"""Each test gets its own upload folder and database: a SQLite file, and, when
TEST_DATABASE_URL is set, a fresh PostgreSQL database as well (the `backend`
parameter runs each database test on both)."""

from __future__ import annotations

import os

# Nothing in the tests may reach the network. Set before transformers and
# huggingface_hub are imported: they read it once.
os.environ["HF_HUB_OFFLINE"] = "1"

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from testkit.models import save_tiny_clip, save_tiny_vit, save_yolos
from testkit.s3 import MotoS3, SeaweedS3
from tests.fake_hf import FakeHuggingFace

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
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    """Settings for this test's own folder and database, with overrides."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"upload_dir": tmp_path / "uploads", "database_url": database_url}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # tests never read a developer's .env

    return make


@pytest.fixture
def local_settings(make_settings: Callable[..., Settings], tiny_model: Path) -> Settings:
    """Settings with the local recognizer on the tiny offline model."""
    return make_settings(hf_model=str(tiny_model))


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def stored_images(settings: Settings) -> list[Path]:
    """Every image file on disk, and anything left in tmp/ (but the lock files
    that say which server process owns what)."""
    root = settings.upload_dir
    found = [*root.glob("images/*/*"), *root.glob("tmp/**/*")]
    return sorted(p for p in found if p.is_file() and p.name != "lock")


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server, in this process; each test makes its own bucket."""
    server = MotoS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweed_s3() -> Iterator[SeaweedS3]:
    """A real SeaweedFS (`weed`) with its S3 gateway; each test makes its own bucket."""
    server = SeaweedS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ViT image classifier, two layers and random weights, with the 196
    Stanford Cars labels, saved as a Hub model is: the local recognizer loads it
    through the same code path as a Hub id."""
    folder = tmp_path_factory.mktemp("tiny-vit")
    save_tiny_vit(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CLIP model, two layers and random weights, with a tokenizer
    trained offline, saved as a Hub model is (the zero-shot backend and
    transformers' pipeline load it like a Hub id)."""
    folder = tmp_path_factory.mktemp("tiny-clip")
    save_tiny_clip(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real YOLOS object detector, two layers and random weights spread so
    that it finds boxes of several COCO kinds (testkit/models.py), saved as a Hub
    model is."""
    folder = tmp_path_factory.mktemp("tiny-yolos")
    save_yolos(folder)
    return folder


@pytest.fixture
def fake_hf() -> Iterator[FakeHuggingFace]:
    server = FakeHuggingFace()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_hf_settings(
    make_settings: Callable[..., Settings], fake_hf: FakeHuggingFace
) -> Callable[..., Settings]:
    """Settings with the remote recognizer pointed at the fake server, with short
    timeouts, and overrides."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "recognizer": "huggingface",
            "hf_api_base": fake_hf.url,
            "hf_api_token": "hf_test_token",
            "hf_model": "therealcyberlord/stanford-car-vit-patch16",
            "hf_timeout_seconds": 1,
            "hf_backoff_seconds": 0.01,
            "hf_retry_budget_seconds": 10,
            "hf_max_attempts": 4,
        }
        return make_settings(**{**values, **overrides})

    return make


@pytest.fixture
def hf_settings(make_hf_settings: Callable[..., Settings]) -> Settings:
    return make_hf_settings()
