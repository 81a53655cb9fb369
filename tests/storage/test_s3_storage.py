"""The app with STORAGE_URL=s3://...: uploads, images, thumbnails, recognition
and deletes go through a real S3 server (moto's; SeaweedFS for the end-to-end
run), and nothing is kept in UPLOAD_DIR but the database."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from PIL import Image
from starlette.testclient import TestClient

from config import Settings
from db.models import BlobRow, BlobState
from db.types import utcnow
from resolvers.blobs import sweep
from server import create_app
from testkit.s3 import MotoS3, S3Server, SeaweedS3
from tests import images
from tests.fake_hf import FakeHuggingFace
from tests.helpers import portal_run, services


def _upload(client: TestClient, data: bytes, name: str = "car.jpg") -> dict[str, Any]:
    response = client.post("/upload/", files={"file": (name, data, "image/jpeg")})
    assert response.status_code == 200, response.text
    meta: dict[str, Any] = response.json()["files"][0]
    return meta


def _image_key(data: bytes, prefix: str = "cars") -> str:
    sha = hashlib.sha256(data).hexdigest()
    return f"{prefix}/images/{sha[:2]}/{sha}"


def _preview_key(data: bytes, prefix: str = "cars") -> str:
    return f"{prefix}/previews/{hashlib.sha256(data).hexdigest()}-512.jpg"


def _nothing_on_disk(settings: Settings) -> bool:
    root = settings.upload_dir
    return not [p for p in [*root.glob("images/**/*"), *root.glob("tmp/*")] if p.is_file()]


def _upload_serve_delete(server: S3Server, make_settings: Callable[..., Settings]) -> None:
    bucket = server.new_bucket()
    settings = make_settings(**server.settings_for(bucket))
    first = images.jpeg(640, 480, color=(200, 10, 10))
    second = images.jpeg(300, 200, orientation=6)
    with TestClient(create_app(settings)) as client:
        a = _upload(client, first, "a.jpg")
        b = _upload(client, first, "b.jpg")  # the same bytes: one object
        c = _upload(client, second, "c.jpg")
        # The larger one has a preview beside it; the smaller is its own.
        assert server.keys(bucket) == sorted(
            [_image_key(first), _preview_key(first), _image_key(second)]
        )

        image = client.get(a["path"])
        assert image.status_code == 200
        assert image.content == first
        assert image.headers["content-type"] == "image/jpeg"
        assert image.headers["content-length"] == str(len(first))
        assert image.headers["x-content-type-options"] == "nosniff"
        thumb = client.get(c["thumbnail_url"])
        assert thumb.status_code == 200
        small = Image.open(io.BytesIO(thumb.content))
        assert max(small.size) == settings.thumbnail_size
        assert small.size[1] > small.size[0]  # upright
        sha = hashlib.sha256(second).hexdigest()
        assert f"cars/thumbs/{sha}-{settings.thumbnail_size}.jpg" in server.keys(bucket)
        assert client.get(c["thumbnail_url"]).content == thumb.content
        assert client.get("/health").json()["storage"]["ok"] is True

        assert client.delete(f"/files/{a['id']}").status_code == 200
        assert client.get(b["path"]).content == first  # still used by b
        assert client.delete(f"/files/{c['id']}").status_code == 200
        assert server.keys(bucket) == sorted([_image_key(first), _preview_key(first)])
        assert client.delete(f"/files/{b['id']}").status_code == 200
        assert client.get(b["path"]).status_code == 404
        assert server.keys(bucket) == []
    assert _nothing_on_disk(settings)


def test_upload_serve_delete_on_moto(
    moto_s3: MotoS3, make_settings: Callable[..., Settings]
) -> None:
    _upload_serve_delete(moto_s3, make_settings)


def test_upload_serve_delete_on_seaweedfs(
    seaweed_s3: SeaweedS3, make_settings: Callable[..., Settings]
) -> None:
    _upload_serve_delete(seaweed_s3, make_settings)


def test_a_large_image_is_served_whole(
    moto_s3: MotoS3, make_settings: Callable[..., Settings]
) -> None:
    data = images.noisy_jpeg(2400, 1800)  # a few MB: many chunks
    bucket = moto_s3.new_bucket()
    settings = make_settings(**moto_s3.settings_for(bucket))
    with TestClient(create_app(settings)) as client:
        meta = _upload(client, data)
        with client.stream("GET", meta["path"]) as response:
            assert response.headers["content-length"] == str(len(data))
            assert b"".join(response.iter_bytes()) == data


def test_recognition_reads_the_image_from_the_bucket(
    moto_s3: MotoS3, make_hf_settings: Callable[..., Settings], fake_hf: FakeHuggingFace
) -> None:
    bucket = moto_s3.new_bucket()
    settings = make_hf_settings(**moto_s3.settings_for(bucket))
    with TestClient(create_app(settings)) as client:
        meta = _upload(client, images.jpeg(320, 240))
        response = client.post(f"/inference/{meta['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "done"
    [request] = fake_hf.requests
    assert request.body["inputs"]
    assert not list(settings.upload_dir.glob("tmp/*"))  # the download is gone


def test_recognition_reads_the_preview_and_never_downloads_the_original(
    moto_s3: MotoS3, make_hf_settings: Callable[..., Settings], fake_hf: FakeHuggingFace
) -> None:
    bucket = moto_s3.new_bucket()
    settings = make_hf_settings(**moto_s3.settings_for(bucket))
    data = images.noisy_jpeg(1600, 1200)
    with TestClient(create_app(settings)) as client:
        meta = _upload(client, data)
        # The original gone from the bucket: only the preview can be read.
        moto_s3.client().delete_object(Bucket=bucket, Key=_image_key(data))
        response = client.post(f"/inference/{meta['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "done"
    [request] = fake_hf.requests
    sent = Image.open(io.BytesIO(base64.b64decode(request.body["inputs"])))
    assert sent.size == (512, 384)  # the preview as it is: it covers the 384 px input


def test_the_sweep_removes_orphans_once_the_grace_period_is_over(
    moto_s3: MotoS3, make_settings: Callable[..., Settings]
) -> None:
    """Leftovers of crashes: an object put whose row was never written, a claim
    whose upload died, a delete that died before it finished. Each goes once
    older than the grace period; a young orphan is left alone."""
    bucket = moto_s3.new_bucket()
    settings = make_settings(**moto_s3.settings_for(bucket), orphan_grace_seconds=3600)
    kept = images.jpeg(64, 64, color=(1, 2, 3))
    orphan, claimed, dying = (images.jpeg(64, 64, color=(i, 0, 0)) for i in (10, 20, 30))
    client_s3 = moto_s3.client()
    for data in (orphan, claimed, dying):
        client_s3.put_object(Bucket=bucket, Key=_image_key(data), Body=data)
    with TestClient(create_app(settings)) as client:
        _upload(client, kept)
        svc = services(client)
        long_ago = utcnow() - timedelta(hours=2)

        async def crash_leftovers() -> None:
            async with svc.session() as session:
                for data, state, pending in ((claimed, "live", 1), (dying, "deleting", 0)):
                    session.add(
                        BlobRow(
                            sha256=hashlib.sha256(data).hexdigest(),
                            epoch="x" * 32,
                            state=BlobState(state),
                            pending=pending,
                            touched_at=long_ago,
                        )
                    )
                await session.commit()

        portal_run(client, crash_leftovers)
        # S3 objects are young (written just now): only the rows are old enough.
        assert portal_run(client, lambda: sweep(svc)) == 2
        assert moto_s3.keys(bucket) == sorted([_image_key(kept), _image_key(orphan)])
    # A server started with a grace period of zero takes the young orphan too.
    with TestClient(create_app(settings.model_copy(update={"orphan_grace_seconds": 0}))):
        pass
    assert moto_s3.keys(bucket) == [_image_key(kept)]
