"""The REST inference routes, `POST /inference/{id}` and `POST /inference/batch`,
with the local recognizer (tiny model) behind them."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests import images
from tests.helpers import upload_bytes, upload_jpeg


def test_inference_over_rest_returns_ranked_structured_predictions(
    local_settings: Settings, tiny_model: Path
) -> None:
    with TestClient(create_app(local_settings)) as client:
        meta = upload_jpeg(client, width=640, height=480)
        response = client.post(f"/inference/{meta['id']}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["filename"]) == (meta["id"], "car.jpg")
        predictions = body["predictions"]
        assert len(predictions) == local_settings.top_k
        confidences = [p["confidence"] for p in predictions]
        assert confidences == sorted(confidences, reverse=True)
        assert all(0 <= c <= 1 for c in confidences)
        for p in predictions:  # every label is a Stanford Cars class: all parts known
            assert p["make"]
            assert p["model"]
            assert p["year"]
            assert p["label"].startswith(p["make"])
            assert p["label"].endswith(str(p["year"]))
        assert (body["status"], body["backend"], body["model_id"]) == (
            "done",
            "local",
            str(tiny_model),
        )
        assert body["inference_ms"] > 0
        stored = client.get(f"/files/{meta['id']}").json()
        assert stored["processed"] is True
        assert stored["status"] == "done"
        assert stored["results"] == predictions


def test_batch_inference_gives_an_outcome_per_id_in_order(local_settings: Settings) -> None:
    with TestClient(create_app(local_settings)) as client:
        a = upload_bytes(client, "a.jpg", images.jpeg(color=(200, 0, 0)))
        b = upload_bytes(client, "b.png", images.png())
        response = client.post("/inference/batch", json=[b, 999, a])
        assert response.status_code == 200
        body = response.json()
        assert [item["id"] for item in body] == [b, 999, a]
        assert len(body[0]["predictions"]) == 5
        assert len(body[2]["predictions"]) == 5
        assert body[1]["predictions"] == []
        assert "999" in body[1]["error"]


@pytest.mark.parametrize(
    "body", [b"{}", b"[]", b'["1"]', b"[true]", b"[1.5]", b"not json", b"[" + b"1," * 5000 + b"1]"]
)
def test_batch_inference_refuses_malformed_bodies(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/inference/batch", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"]
