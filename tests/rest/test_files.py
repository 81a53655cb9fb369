"""/files/: listing, one file, deleting, reprocessing, images and thumbnails."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

import db.listing
from config import Settings
from testkit.servers import server
from tests import images
from tests.conftest import stored_images
from tests.helpers import record_failure, record_predictions, upload_jpeg


def test_original_readme_file_examples(client: TestClient) -> None:
    meta = upload_jpeg(client)
    one = client.get(f"/files/{meta['id']}")
    assert one.status_code == 200
    assert one.json() == meta
    listing = client.get("/files/").json()
    assert listing == [meta]
    assert client.get("/files").json() == listing


def test_listing_is_oldest_first(client: TestClient) -> None:
    ids = [upload_jpeg(client, f"{i}.jpg", color=(i * 40, 0, 0))["id"] for i in range(4)]
    assert [f["id"] for f in client.get("/files/").json()] == ids


def test_listing_is_exactly_each_file_as_get_shows_it_across_slices(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The streamed listing holds, for every file, the very object that GET
    /files/{id} answers: same keys in the same order, same values and types."""
    monkeypatch.setattr(db.listing, "PAGE", 2)  # several pages for 5 files
    ids = [upload_jpeg(client, f"{i}.jpg", color=(i * 40, 0, 0))["id"] for i in range(5)]
    record_predictions(
        client, ids[1], [("BMW M3 Coupe 2012", 0.97315), ("Audi S4 Sedan 2012", 0.01)]
    )
    record_predictions(client, ids[2], [("AM General Hummer SUV 2000", 1.0)], inference_ms=12.5)
    record_failure(client, ids[3], "The recognizer failed: 502.")
    response = client.get("/files/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    listed = json.loads(response.content)
    singles = [client.get(f"/files/{i}").json() for i in ids]
    assert listed == singles
    assert [list(item) for item in listed] == [list(single) for single in singles]
    assert listed[1]["results"][0] == {
        "label": "BMW M3 Coupe 2012", "confidence": round(0.97315, 4),
        "make": "BMW", "model": "M3", "body_type": "Coupe", "year": 2012,
    }  # fmt: skip
    assert [f["processed"] for f in listed] == [False, True, True, False, False]
    assert (listed[3]["status"], listed[3]["error"]) == ("failed", "The recognizer failed: 502.")
    assert listed[1]["processed_at"] is not None
    assert listed[0]["results"] is None
    assert listed[2]["inference_ms"] == 12.5
    assert client.delete("/files/").status_code == 200
    assert client.get("/files/").content == b"[]"


def test_results_carry_predictions_once_processed(client: TestClient) -> None:
    meta = upload_jpeg(client)
    record_predictions(
        client, meta["id"], [("BMW M3 Coupe 2012", 0.912345), ("Audi S4 Sedan 2012", 0.05)]
    )
    body = client.get(f"/files/{meta['id']}").json()
    assert body["processed"] is True
    assert body["status"] == "done"
    assert [(p["label"], p["confidence"]) for p in body["results"]] == [
        ("BMW M3 Coupe 2012", 0.9123),
        ("Audi S4 Sedan 2012", 0.05),
    ]
    assert set(body["results"][0]) >= {"label", "confidence", "make", "model", "body_type", "year"}


@pytest.mark.parametrize("bad_id", ["999", "0", "-1", "abc", "1.5", "99999999999999999999", "%00"])
def test_unknown_or_malformed_id_is_404_with_detail(client: TestClient, bad_id: str) -> None:
    upload_jpeg(client)
    for method, url in [
        ("GET", f"/files/{bad_id}"),
        ("DELETE", f"/files/{bad_id}"),
        ("POST", f"/files/{bad_id}/reprocess"),
        ("GET", f"/files/{bad_id}/image"),
        ("GET", f"/files/{bad_id}/thumbnail"),
    ]:
        response = client.request(method, url)
        assert response.status_code == 404, (method, url)
        assert response.json()["detail"]
    assert len(client.get("/files/").json()) == 1


def test_delete_removes_the_row_and_the_image(client: TestClient, settings: Settings) -> None:
    meta = upload_jpeg(client)
    client.get(f"/files/{meta['id']}/thumbnail")
    assert stored_images(settings)
    assert list(settings.upload_dir.glob("thumbs/*"))
    response = client.delete(f"/files/{meta['id']}")
    assert response.status_code == 200
    assert "message" in response.json()
    assert client.get(f"/files/{meta['id']}").status_code == 404
    assert client.get(meta["path"]).status_code == 404
    assert stored_images(settings) == []
    assert list(settings.upload_dir.glob("thumbs/*")) == []


def test_delete_all_reports_the_count_and_empties_storage(
    client: TestClient, settings: Settings
) -> None:
    for i in range(3):
        upload_jpeg(client, f"{i}.jpg", color=(0, i * 50, 0))
    for url in ("/files/", "/files"):
        response = client.delete(url)
        assert response.status_code == 200
    assert client.delete("/files/").json()["message"].startswith("Deleted 0")
    assert client.get("/files/").json() == []
    assert stored_images(settings) == []


def test_delete_all_names_how_many(client: TestClient) -> None:
    for i in range(3):
        upload_jpeg(client, f"{i}.jpg", color=(0, i * 50, 0))
    assert "3" in client.delete("/files/").json()["message"]


def test_ids_are_never_reused_after_a_delete(client: TestClient) -> None:
    first = upload_jpeg(client)["id"]
    client.delete(f"/files/{first}")
    assert upload_jpeg(client)["id"] > first


def test_reprocess_clears_results_and_sets_pending(client: TestClient) -> None:
    meta = upload_jpeg(client)
    record_predictions(client, meta["id"], [("BMW M3 Coupe 2012", 0.9)])
    body = client.post(f"/files/{meta['id']}/reprocess").json()
    assert body["processed"] is False
    assert body["results"] is None
    assert body["status"] == "pending"
    assert client.get(f"/files/{meta['id']}").json()["results"] is None


def test_image_is_served_with_its_type_and_nosniff(client: TestClient) -> None:
    data = images.png()
    meta = client.post("/upload/", files={"file": ("x.png", data, "image/png")}).json()["files"][0]
    response = client.get(meta["path"])
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_thumbnail_is_a_small_upright_jpeg_made_once(
    client: TestClient, settings: Settings
) -> None:
    # 600x300 stored sideways (EXIF 6): shown as 300x600
    meta = upload_jpeg(client, width=600, height=300, orientation=6)
    response = client.get(meta["thumbnail_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(response.content))
    assert thumb.format == "JPEG"
    assert max(thumb.size) == settings.thumbnail_size
    assert thumb.size[1] > thumb.size[0]  # upright: taller than wide
    [cached] = settings.upload_dir.glob("thumbs/*.jpg")
    made = cached.stat().st_mtime_ns
    assert client.get(meta["thumbnail_url"]).content == response.content
    assert cached.stat().st_mtime_ns == made  # served from the cache, not made again


def test_unknown_route_and_method_answer_json(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = client.put("/files/")
    assert wrong.status_code == 405
    assert "detail" in wrong.json()


def test_image_and_thumbnail_downloads_racing_a_delete_are_whole_or_404(
    tmp_path: Path, database_url: str
) -> None:
    """Against a real server: each round uploads a file, then fetches its image
    and thumbnail from many clients while another deletes it. Every answer is
    the whole file (as long as it declared) or a 404: never a 500, never a cut
    body."""
    outcomes: Counter[str] = Counter()
    data = images.noisy_jpeg(600, 400)  # some size, so a body takes a while to send
    sha = hashlib.sha256(data).hexdigest()
    with (
        server(tmp_path, DATABASE_URL=database_url, RECOGNIZER="huggingface") as live,
        httpx.Client(base_url=live.url, timeout=30) as http,
        ThreadPoolExecutor(16) as pool,
    ):

        def fetch(path: str) -> str:
            try:
                response = http.get(path)
            except httpx.TransportError as exc:  # a body shorter than its Content-Length
                return f"broken: {type(exc).__name__}"
            if response.status_code != 200:
                return str(response.status_code)
            if int(response.headers["content-length"]) != len(response.content):
                return "short body"
            if path.endswith("/image") and hashlib.sha256(response.content).hexdigest() != sha:
                return "wrong bytes"
            return "200"

        for round_ in range(25):
            answer = http.post("/upload/", files={"file": (f"{round_}.jpg", data)})
            file_id = answer.json()["files"][0]["id"]
            paths = [f"/files/{file_id}/{kind}" for kind in ("image", "thumbnail")] * 8
            fetches = [pool.submit(fetch, path) for path in paths[:8]]
            deleted = pool.submit(http.delete, f"/files/{file_id}")
            fetches += [pool.submit(fetch, path) for path in paths[8:]]
            assert deleted.result().status_code == 200
            outcomes.update(f.result() for f in fetches)
    assert set(outcomes) <= {"200", "404"}, outcomes


def test_image_downloads_keep_ranges_validators_and_head(client: TestClient) -> None:
    data = images.jpeg(200, 100)
    meta = client.post("/upload/", files={"file": ("r.jpg", data, "image/jpeg")}).json()["files"][0]
    whole = client.get(meta["path"])
    assert whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["etag"]
    assert whole.headers["last-modified"]
    part = client.get(meta["path"], headers={"Range": "bytes=2-11"})
    assert part.status_code == 206
    assert part.content == data[2:12]
    assert part.headers["content-range"] == f"bytes 2-11/{len(data)}"
    two = client.get(meta["path"], headers={"Range": "bytes=0-1,4-5"})
    assert two.status_code == 206
    assert data[:2] in two.content
    assert data[4:6] in two.content
    head = client.head(meta["path"])
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))
    assert head.content == b""
