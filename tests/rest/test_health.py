"""GET /health."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from config import Settings
from server import create_app


def test_health_reports_database_and_storage(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["storage"]["ok"] is True


def test_health_is_503_when_the_image_folder_is_not_usable(
    client: TestClient, settings: Settings
) -> None:
    tmp = settings.upload_dir / "tmp"
    tmp.rename(settings.upload_dir / "tmp-moved")
    tmp.write_text("a file where a folder should be")  # root can write anywhere; this it cannot
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["storage"]["ok"] is False
    assert "not writable" in body["storage"]["detail"]
    assert body["database"]["ok"] is True


def test_production_health_names_no_local_path(
    make_settings: Callable[..., Settings], tiny_model: Path
) -> None:
    """Anyone may ask /health: in production it must not show where the model
    lives, nor the messages that carry paths."""
    settings = make_settings(env="production", hf_model=str(tiny_model), preload_model=True)
    with TestClient(create_app(settings)) as client:
        text = client.get("/health").text
    assert str(tiny_model) not in text
    assert str(settings.upload_dir) not in text
    body = json.loads(text)
    assert body["recognizer"]["model"] == "a local model"
    assert body["recognizer"]["detail"] == "loaded"
    assert body["status"] == "ok"


def test_production_health_keeps_a_hub_id_and_hides_the_failure(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    settings = make_settings(env="production", hf_model=str(missing), preload_model=True)
    with TestClient(create_app(settings)) as client:
        body = client.get("/health").json()
    assert body["status"] == "degraded"
    assert str(missing) not in json.dumps(body)
    assert body["recognizer"]["detail"] == "cannot be loaded; the server log says why"
    hub = make_settings(env="production", hf_model="therealcyberlord/stanford-car-vit-patch16")
    with TestClient(create_app(hub)) as client:
        assert client.get("/health").json()["recognizer"]["model"] == hub.hf_model
