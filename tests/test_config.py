"""Settings: the original service's `.env` starts this one unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from config import Settings
from server import create_app

ORIGINAL_ENV = """\
# .env of the original FastAPI service
HF_API_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxx
HF_MODEL=therealcyberlord/stanford-car-vit-patch16
MAX_FILE_SIZE_MB=10
UPLOAD_DIR=uploads
METADATA_FILE=metadata.json
"""


def test_an_original_env_file_starts_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(ORIGINAL_ENV)
    settings = Settings()
    assert settings.hf_api_token == "hf_xxxxxxxxxxxxxxxxxxxxxxxx"
    assert settings.max_file_size == 10 * 1024 * 1024
    assert settings.resolved_database_url == "sqlite+aiosqlite:///uploads/cars.db"
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["status"] == "ok"
        response = client.post(
            "/upload/", files={"file": ("car.jpg", b"\xff\xd8\xff not really", "image/jpeg")}
        )
        assert response.status_code == 400
    assert (tmp_path / "uploads" / "cars.db").exists()


def test_allowed_types_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_TYPES", "image/jpeg, image/png ,image/webp")
    settings = Settings(_env_file=None)
    assert settings.allowed_types == ("image/jpeg", "image/png", "image/webp")
    assert ".webp" in settings.allowed_extensions


def test_unknown_allowed_type_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_TYPES", "image/jpeg,application/zip")
    with pytest.raises(ValidationError, match="application/zip"):
        Settings(_env_file=None)


def test_webp_can_be_allowed(tmp_path: Path, database_url: str) -> None:
    from tests import images

    settings = Settings(
        _env_file=None,
        upload_dir=tmp_path / "u",
        database_url=database_url,
        allowed_types="image/jpeg,image/webp",
    )
    with TestClient(create_app(settings)) as client:
        ok = client.post(
            "/upload/", files={"file": ("a.webp", images.other_format("WEBP"), "image/webp")}
        )
        assert ok.status_code == 200
        assert ok.json()["files"][0]["mime_type"] == "image/webp"
        png = client.post("/upload/", files={"file": ("a.png", images.png(), "image/png")})
        assert png.status_code == 415


ROOT = Path(__file__).parents[1]


def test_env_example_documents_every_setting_and_starts_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = (ROOT / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert documented == {name.upper() for name in Settings.model_fields}
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(example)
    with TestClient(create_app(Settings())) as client:
        assert client.get("/health").json()["status"] == "ok"


def test_max_aspect_ratio_is_read_and_must_be_at_least_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).max_aspect_ratio == 20
    monkeypatch.setenv("MAX_ASPECT_RATIO", "2.5")
    assert Settings(_env_file=None).max_aspect_ratio == 2.5
    monkeypatch.setenv("MAX_ASPECT_RATIO", "0.5")
    with pytest.raises(ValidationError, match="max_aspect_ratio"):
        Settings(_env_file=None)
