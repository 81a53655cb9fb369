"""Decode once: the upload's validating decode writes a preview (longest side
512 px) that recognition reads instead of decoding the original again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from testkit.preview import deviation, sample_photos
from tests import images

# The largest change of any class's probability that reading the preview may
# cause: the tolerance the original's own reduced-size decode already has
# against the transformers pipeline's full-size one (test_local.py's
# test_a_large_jpeg_is_decoded_at_reduced_size_and_still_agrees). Measured on
# these images: 0.0059 at worst (random noise, the hardest for a JPEG).
MAX_PROBABILITY_CHANGE = 0.02


@pytest.fixture
def local_settings(make_settings: Callable[..., Settings], tiny_model: Path) -> Settings:
    return make_settings(hf_model=str(tiny_model), precision="fp32", runtime="torch")


def _upload(client: TestClient, data: bytes, name: str = "car.jpg") -> tuple[int, str]:
    response = client.post("/upload/", files={"file": (name, data, "image/jpeg")})
    assert response.status_code == 200, response.text
    return int(response.json()["files"][0]["id"]), hashlib.sha256(data).hexdigest()


def _predictions(client: TestClient, file_id: int) -> list[dict[str, object]]:
    response = client.post(f"/inference/{file_id}")
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()["predictions"]
    return found


def test_the_preview_gives_the_originals_top_guess(tiny_model: Path) -> None:
    found = deviation(tiny_model, sample_photos())
    assert found.top1_agree == found.images
    assert found.max_prob_diff <= MAX_PROBABILITY_CHANGE


def test_an_upload_stores_an_upright_preview_and_recognition_reads_it(
    local_settings: Settings,
) -> None:
    data = images.jpeg(3000, 2000, orientation=6)  # shown 2000 wide, 3000 high
    with TestClient(create_app(local_settings)) as client:
        file_id, sha = _upload(client, data)
        preview = local_settings.upload_dir / "previews" / f"{sha}-512.jpg"
        with Image.open(preview) as small:
            assert small.size == (341, 512)
            assert small.getexif().get(0x0112) is None  # upright: nothing to turn
        original = local_settings.upload_dir / "images" / sha[:2] / sha
        kept = original.read_bytes()
        original.unlink()  # only the preview is left to read
        assert len(_predictions(client, file_id)) == local_settings.top_k
        original.write_bytes(kept)
        assert client.delete(f"/files/{file_id}").status_code == 200
        assert not preview.exists()  # the last file's delete takes its preview


def test_an_image_without_a_preview_is_read_from_the_original(local_settings: Settings) -> None:
    data = images.jpeg(1600, 1200)
    with TestClient(create_app(local_settings)) as client:
        file_id, sha = _upload(client, data)
        preview = local_settings.upload_dir / "previews" / f"{sha}-512.jpg"
        kept = preview.read_bytes()
        preview.unlink()  # as an image uploaded before previews existed
        from_original = _predictions(client, file_id)
        preview.write_bytes(kept)
        assert client.post(f"/files/{file_id}/reprocess").status_code == 200
        from_preview = _predictions(client, file_id)
        assert from_preview[0]["label"] == from_original[0]["label"]
        assert from_preview != from_original  # really read from another source


def test_small_images_and_panoramas_have_no_preview_that_recognition_could_use(
    local_settings: Settings,
) -> None:
    with TestClient(create_app(local_settings)) as client:
        _, small = _upload(client, images.jpeg(400, 300), "small.jpg")
        assert not (local_settings.upload_dir / "previews" / f"{small}-512.jpg").exists()
        wide, sha = _upload(client, images.jpeg(4000, 800), "wide.jpg")  # preview 512x102
        assert (local_settings.upload_dir / "previews" / f"{sha}-512.jpg").exists()
        original = local_settings.upload_dir / "images" / sha[:2] / sha
        original.unlink()  # the preview cannot cover 224 px: the original is needed
        response = client.post(f"/inference/{wide}")
        assert response.status_code >= 400
