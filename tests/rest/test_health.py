"""GET /health."""

from __future__ import annotations

from starlette.testclient import TestClient

from config import Settings


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
