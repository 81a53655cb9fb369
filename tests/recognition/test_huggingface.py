"""The remote recognizer against a real HTTP server on loopback that speaks the
Hugging Face Inference API, scripted to misbehave in each way seen in the wild."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections.abc import Callable

import pytest
from PIL import Image
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests import images
from tests.fake_hf import GUESSES, FakeHuggingFace, answer, drop, ok
from tests.helpers import gql


def upload(client: TestClient, data: bytes | None = None, name: str = "car.jpg") -> int:
    response = client.post("/upload/", files={"file": (name, data or images.jpeg(), "image/jpeg")})
    assert response.status_code == 200, response.text
    return int(response.json()["files"][0]["id"])


def status_of(client: TestClient, file_id: int) -> dict[str, object]:
    meta: dict[str, object] = client.get(f"/files/{file_id}").json()
    return meta


def test_success_posts_the_image_with_the_token_and_stores_the_answer(
    hf_settings: Settings, fake_hf: FakeHuggingFace
) -> None:
    data = images.jpeg(320, 240)
    with TestClient(create_app(hf_settings)) as client:
        file_id = upload(client, data)
        response = client.post(f"/inference/{file_id}")
        assert response.status_code == 200, response.text
        body = response.json()
    [request] = fake_hf.requests
    assert request.path == "/hf-inference/models/therealcyberlord/stanford-car-vit-patch16"
    assert request.headers["authorization"] == "Bearer hf_test_token"
    assert base64.b64decode(request.body["inputs"]) == data
    assert request.body["parameters"] == {"top_k": 5}
    assert [(p["label"], p["confidence"]) for p in body["predictions"]] == [
        (g["label"], g["score"]) for g in GUESSES
    ]
    assert body["predictions"][3] | {"label": "", "confidence": 0} == {
        "label": "",
        "confidence": 0,
        "make": "Land Rover",
        "model": "Range Rover",
        "body_type": "SUV",
        "year": 2012,
    }
    assert (body["backend"], body["status"]) == ("huggingface", "done")


def test_a_dedicated_endpoint_gets_the_same_payload(
    make_settings: Callable[..., Settings], fake_hf: FakeHuggingFace
) -> None:
    settings = make_settings(
        recognizer="huggingface", hf_endpoint_url=f"{fake_hf.url}/my-endpoint", hf_api_token="t"
    )
    with TestClient(create_app(settings)) as client:
        assert client.post(f"/inference/{upload(client)}").status_code == 200
    assert [r.path for r in fake_hf.requests] == ["/my-endpoint"]


def test_a_loading_model_is_waited_for_as_long_as_it_says(
    hf_settings: Settings, fake_hf: FakeHuggingFace
) -> None:
    fake_hf.then(answer(503, {"error": "Model is currently loading", "estimated_time": 0.4}))
    with TestClient(create_app(hf_settings)) as client:
        file_id = upload(client)
        assert client.post(f"/inference/{file_id}").status_code == 200
    first, second = fake_hf.requests
    assert second.at - first.at >= 0.4


def test_rate_limits_honour_retry_after(hf_settings: Settings, fake_hf: FakeHuggingFace) -> None:
    fake_hf.then(answer(429, {"error": "Rate limit reached"}, headers={"Retry-After": "1"}))
    with TestClient(create_app(hf_settings)) as client:
        assert client.post(f"/inference/{upload(client)}").status_code == 200
    first, second = fake_hf.requests
    assert second.at - first.at >= 1.0


@pytest.mark.parametrize(
    "trouble",
    [
        pytest.param(lambda: answer(500, {"error": "boom"}), id="500"),
        pytest.param(lambda: answer(502, b"<html>Bad Gateway</html>"), id="502-html"),
        pytest.param(lambda: ok(delay=2.5), id="slower-than-the-timeout"),
        pytest.param(drop, id="dropped-connection"),
        pytest.param(lambda: answer(200, b"this is not json"), id="malformed-json"),
        pytest.param(lambda: answer(200, {"label": "not a list"}), id="wrong-shape"),
        pytest.param(lambda: answer(200, [{"label": "x", "score": 7}]), id="impossible-score"),
    ],
)
def test_transient_trouble_is_retried_until_it_works(
    hf_settings: Settings, fake_hf: FakeHuggingFace, trouble: Callable[[], object]
) -> None:
    fake_hf.then(trouble(), trouble())  # type: ignore[arg-type]
    with TestClient(create_app(hf_settings)) as client:
        file_id = upload(client)
        response = client.post(f"/inference/{file_id}")
        assert response.status_code == 200, response.text
        assert status_of(client, file_id)["status"] == "done"
    assert len(fake_hf.requests) == 3


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        (400, "refused the image"),
        (401, "HF_API_TOKEN"),
        (403, "permission"),
        (404, "HF_ENDPOINT_URL"),
        (410, "retired"),
        (422, "refused the image"),
    ],
)
def test_refusals_are_not_retried_and_say_what_to_do(
    hf_settings: Settings, fake_hf: FakeHuggingFace, status: int, advice: str
) -> None:
    fake_hf.default = answer(status, {"error": f"upstream says {status}"})
    with TestClient(create_app(hf_settings)) as client:
        file_id = upload(client)
        response = client.post(f"/inference/{file_id}")
        assert response.status_code == 502
        detail = response.json()["detail"]
        assert advice in detail
        assert f"upstream says {status}" in detail
        meta = status_of(client, file_id)
        assert meta["status"] == "failed"
        assert meta["error"] == detail
    assert len(fake_hf.requests) == 1


def test_persistent_failure_ends_failed_with_the_reason(
    hf_settings: Settings, fake_hf: FakeHuggingFace
) -> None:
    fake_hf.default = answer(503, {"error": "Service Unavailable"})
    with TestClient(create_app(hf_settings)) as client:
        file_id = upload(client)
        response = client.post(f"/inference/{file_id}")
        assert response.status_code == 502
        assert "after 4 attempt(s)" in response.json()["detail"]
        meta = status_of(client, file_id)
        assert meta["status"] == "failed"
        assert "Service Unavailable" in str(meta["error"])
        # and GraphQL reports the same as a typed error
        result = gql(
            client,
            "mutation($id: ID!) { inferFile(id: $id) { errors { code message } } }",
            {"id": str(file_id)},
        )
        assert result["data"]["inferFile"]["errors"][0]["code"] == "UPSTREAM_ERROR"
    assert len(fake_hf.requests) == 8


def test_a_wait_longer_than_the_budget_gives_up_at_once(
    make_hf_settings: Callable[..., Settings], fake_hf: FakeHuggingFace
) -> None:
    settings = make_hf_settings(hf_retry_budget_seconds=5)
    fake_hf.default = answer(503, {"error": "Model is currently loading", "estimated_time": 600.0})
    with TestClient(create_app(settings)) as client:
        file_id = upload(client)
        assert client.post(f"/inference/{file_id}").status_code == 502
        assert status_of(client, file_id)["status"] == "failed"
    assert len(fake_hf.requests) == 1


def test_upstream_concurrency_is_bounded(
    make_hf_settings: Callable[..., Settings], fake_hf: FakeHuggingFace
) -> None:
    settings = make_hf_settings(hf_max_concurrency=2, infer_concurrency=8)
    fake_hf.default = ok(delay=0.2)
    with TestClient(create_app(settings)) as client:
        ids = [upload(client, images.jpeg(color=(i * 30, 0, 0)), f"{i}.jpg") for i in range(6)]
        outcome = client.post("/inference/batch", json=ids).json()
        assert all(len(item["predictions"]) == 5 for item in outcome)
    assert len(fake_hf.requests) == 6
    assert fake_hf.most_in_flight == 2


def test_batch_mixes_successes_and_failures_and_leaves_nothing_processing(
    hf_settings: Settings, fake_hf: FakeHuggingFace
) -> None:
    settings = hf_settings.model_copy(update={"infer_concurrency": 1, "hf_max_attempts": 1})
    fake_hf.then(ok(), answer(401, {"error": "Invalid credentials in Authorization header"}), ok())
    with TestClient(create_app(settings)) as client:
        ids = [upload(client, images.jpeg(color=(0, i * 60, 0)), f"{i}.jpg") for i in range(3)]
        body = client.post("/inference/batch", json=ids).json()
        assert [bool(item["predictions"]) for item in body] == [True, False, True]
        assert "HF_API_TOKEN" in body[1]["error"]
        assert body[1]["status"] == "failed"
        assert body[1]["filename"] == "1.jpg"
        assert [f["status"] for f in client.get("/files/").json()] == ["done", "failed", "done"]


def test_known_bytes_are_not_sent_again_even_after_a_restart(
    hf_settings: Settings, fake_hf: FakeHuggingFace
) -> None:
    data = images.jpeg(200, 100)
    with TestClient(create_app(hf_settings)) as client:
        first = client.post(f"/inference/{upload(client, data, 'a.jpg')}").json()
        second = client.post(f"/inference/{upload(client, data, 'b.jpg')}").json()
        assert second["predictions"] == first["predictions"]
    with TestClient(create_app(hf_settings)) as client:
        third = client.post(f"/inference/{upload(client, data, 'c.jpg')}").json()
        assert third["predictions"] == first["predictions"]
        assert third["status"] == "done"
    assert len(fake_hf.requests) == 1
    assert (
        hashlib.sha256(base64.b64decode(fake_hf.requests[0].body["inputs"])).hexdigest()
        == hashlib.sha256(data).hexdigest()
    )


def test_other_requests_are_served_while_a_slow_inference_runs(
    hf_settings: Settings, fake_hf: FakeHuggingFace
) -> None:
    settings = hf_settings.model_copy(update={"hf_timeout_seconds": 10})
    fake_hf.default = ok(delay=2.0)
    with TestClient(create_app(settings)) as client:
        file_id = upload(client)
        result: dict[str, int] = {}
        slow = threading.Thread(
            target=lambda: result.update(code=client.post(f"/inference/{file_id}").status_code)
        )
        slow.start()
        while not fake_hf.requests:  # the inference is now waiting on the upstream
            slow.join(0.01)
        assert client.get("/health").status_code == 200
        assert status_of(client, file_id)["status"] == "processing"
        assert upload(client, images.png(), "other.png") > file_id
        assert gql(client, "{ files(first: 5) { totalCount } }")["data"]["files"]["totalCount"] == 2
        assert slow.is_alive()  # all of the above happened while the inference was still running
        slow.join(10)
        assert result == {"code": 200}
        assert status_of(client, file_id)["status"] == "done"


def test_a_strip_stored_before_the_aspect_rule_is_sent_as_its_central_part(
    make_hf_settings: Callable[..., Settings], fake_hf: FakeHuggingFace
) -> None:
    """The model behind the API resizes as ours do: a file an older server took
    in, 1 x 2000, is sent as the JPEG of its central 1 x 20 pixels, not as it is."""
    strip = images.jpeg(1, 2000)
    with TestClient(create_app(make_hf_settings(max_aspect_ratio=1e6))) as old:
        file_id = upload(old, strip, "strip.jpg")
    with TestClient(create_app(make_hf_settings())) as client:
        assert client.post(f"/inference/{file_id}").status_code == 200
    [request] = fake_hf.requests
    sent = Image.open(io.BytesIO(base64.b64decode(request.body["inputs"])))
    assert (sent.format, sent.size) == ("JPEG", (1, 20))
    centre = Image.open(io.BytesIO(strip)).crop((0, 990, 1, 1010))
    assert max(abs(a - b) for a, b in zip(sent.tobytes(), centre.tobytes(), strict=True)) <= 8
