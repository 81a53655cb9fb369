"""POST /upload/ and /upload/batch: what is stored, and what is refused."""

from __future__ import annotations

import hashlib

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from config import Settings
from storage.images import MAX_PADDING
from tests import images
from tests.conftest import stored_images


def upload(client: TestClient, name: str, data: bytes, url: str = "/upload/") -> httpx.Response:
    return client.post(url, files={"file": (name, data, "application/octet-stream")})


def test_original_readme_upload_returns_the_compat_shape(client: TestClient) -> None:
    data = images.jpeg(640, 480)
    response = client.post("/upload/", files={"file": ("car.jpg", data, "image/jpeg")})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["message"], str)
    [meta] = body["files"]
    assert meta["filename"] == "car.jpg"
    assert meta["path"] == f"/files/{meta['id']}/image"
    assert meta["processed"] is False
    assert meta["results"] is None
    assert meta["mime_type"] == "image/jpeg"
    assert meta["size_bytes"] == len(data)
    assert meta["upload_date"].endswith("+00:00")
    assert (meta["width"], meta["height"], meta["status"]) == (640, 480, "pending")
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    # and the bytes served back are the bytes sent
    assert client.get(meta["path"]).content == data


def test_route_without_trailing_slash_works(client: TestClient) -> None:
    response = client.post("/upload", files={"file": ("a.png", images.png(), "image/png")})
    assert response.status_code == 200
    assert response.json()["files"][0]["mime_type"] == "image/png"


def test_two_uploads_with_the_same_name_both_survive(
    client: TestClient, settings: Settings
) -> None:
    first, second = images.jpeg(color=(255, 0, 0)), images.jpeg(color=(0, 0, 255))
    a = upload(client, "car.jpg", first).json()["files"][0]
    b = upload(client, "car.jpg", second).json()["files"][0]
    assert a["id"] != b["id"]
    assert client.get(a["path"]).content == first
    assert client.get(b["path"]).content == second
    # stored under server-made names, never the client's
    assert len(stored_images(settings)) == 2
    assert all(p.name != "car.jpg" for p in stored_images(settings))


def test_identical_bytes_are_two_files_sharing_one_image(
    client: TestClient, settings: Settings
) -> None:
    data = images.jpeg()
    a = upload(client, "one.jpg", data).json()["files"][0]
    b = upload(client, "two.jpg", data).json()["files"][0]
    assert a["id"] != b["id"]
    assert len(stored_images(settings)) == 1
    client.delete(f"/files/{a['id']}")
    assert client.get(b["path"]).content == data  # still there for the other file
    client.delete(f"/files/{b['id']}")
    assert stored_images(settings) == []


def test_exif_rotated_photo_reports_its_displayed_size(client: TestClient) -> None:
    meta = upload(client, "portrait.jpg", images.jpeg(80, 60, orientation=6)).json()["files"][0]
    assert (meta["width"], meta["height"]) == (60, 80)


BAD_FILES = [
    pytest.param("empty.jpg", b"", 400, "empty", id="zero-byte"),
    pytest.param(
        "notes.jpg", b"just some text, not an image\n", 400, "not an image", id="text-renamed-jpg"
    ),
    pytest.param("half.jpg", images.truncated_jpeg(), 400, "truncated", id="truncated-jpeg"),
    pytest.param("broken.png", images.corrupt_png(), 400, "damaged", id="corrupt-png"),
    pytest.param("bomb.png", images.png_bomb(), 400, "pixels", id="png-decompression-bomb"),
    pytest.param(
        "huge.jpg", images.jpeg_with_size(65535, 65535), 400, "pixels", id="jpeg-65535-header"
    ),
    pytest.param("poly.png", images.png_zip_polyglot(), 400, "archive", id="png-zip-polyglot"),
    pytest.param("poly.jpg", images.jpeg_html_polyglot(), 400, "hidden", id="jpeg-html-polyglot"),
    pytest.param("anim.gif", images.other_format("GIF"), 415, "image/gif", id="gif"),
    pytest.param("phone.heic", images.heic_header(), 415, "image/heic", id="heic"),
    pytest.param("logo.svg", images.SVG, 415, "image/svg", id="svg"),
    pytest.param("drawing.jpg", images.SVG, 415, "image/svg", id="svg-renamed-jpg"),
    pytest.param(
        "photo.webp", images.other_format("WEBP"), 415, "image/webp", id="webp-not-allowed"
    ),
    pytest.param("photo.bmp", images.jpeg(), 415, "extensions", id="jpeg-named-bmp"),
    pytest.param("noextension", images.jpeg(), 415, "extensions", id="no-extension"),
]


@pytest.mark.parametrize(("name", "data", "status", "words"), BAD_FILES)
def test_bad_upload_is_refused_clearly_and_nothing_is_stored(
    client: TestClient, settings: Settings, name: str, data: bytes, status: int, words: str
) -> None:
    response = upload(client, name, data)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert stored_images(settings) == []
    assert client.get("/files/").json() == []
    # and the server keeps serving
    assert upload(client, "fine.jpg", images.jpeg()).status_code == 200


@pytest.mark.parametrize("kind", list(images.polyglots()))
def test_polyglots_are_refused_and_nothing_is_stored(
    client: TestClient, settings: Settings, kind: str
) -> None:
    name, data = images.polyglots()[kind]
    response = upload(client, name, data)
    assert response.status_code == 400, response.text
    assert "end" in response.json()["detail"]
    assert stored_images(settings) == []
    assert client.get("/files/").json() == []


def test_only_a_little_nul_padding_may_follow_the_image(
    client: TestClient, settings: Settings
) -> None:
    padded = images.jpeg() + b"\x00" * MAX_PADDING
    assert upload(client, "padded.jpg", padded).status_code == 200
    too_much = images.jpeg(color=(1, 2, 3)) + b"\x00" * (MAX_PADDING + 1)
    assert upload(client, "padded.jpg", too_much).status_code == 400


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", images.truncated_jpeg()],
    ids=["jpeg-signature-only", "png-signature-only", "truncated-jpeg"],
)
def test_refusals_never_show_the_servers_paths(
    client: TestClient, settings: Settings, data: bytes
) -> None:
    response = upload(client, "x.jpg", data)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "image" in detail
    for leak in (str(settings.upload_dir), "/tmp", ".part", "uploads/"):
        assert leak not in detail, detail


# A strip 1 pixel wide cost recognition 1.2 GB (1 x 2000) to an OOM kill (1 x 60000).
OVER_RATIO = [
    pytest.param("strip.jpg", images.jpeg(1, 60000), "1×60000", "60,000", id="jpeg-1x60000"),
    pytest.param("strip.jpg", images.jpeg(1, 2000), "1×2000", "2,000", id="jpeg-1x2000"),
    pytest.param("wide.png", images.png(21, 1, mode="RGB"), "21×1", "21", id="png-21x1"),
    pytest.param(
        "tall.png", images.png(50, 1001, mode="RGB"), "50×1001", "20.02", id="png-50x1001"
    ),
]


@pytest.mark.parametrize(("name", "data", "size", "times"), OVER_RATIO)
def test_an_image_far_longer_than_wide_is_refused_with_the_reason(
    client: TestClient, settings: Settings, name: str, data: bytes, size: str, times: str
) -> None:
    response = upload(client, name, data)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "detail": f"The image is {size} pixels: its long side is {times} times its short side;"
        " at most 20:1 is accepted (MAX_ASPECT_RATIO)."
    }
    assert stored_images(settings) == []
    assert client.get("/files/").json() == []


@pytest.mark.parametrize(("width", "height"), [(20, 1), (1, 20), (1000, 50), (40, 800)])
def test_an_image_exactly_at_the_ratio_is_accepted(
    client: TestClient, width: int, height: int
) -> None:
    response = upload(client, "strip.png", images.png(width, height, mode="RGB"))
    assert response.status_code == 200, response.text
    meta = response.json()["files"][0]
    assert (meta["width"], meta["height"]) == (width, height)


def test_max_aspect_ratio_sets_the_limit(tmp_path, database_url: str) -> None:
    settings = Settings(
        _env_file=None, upload_dir=tmp_path / "up", database_url=database_url, max_aspect_ratio=2.5
    )
    from server import create_app

    with TestClient(create_app(settings)) as client:
        assert upload(client, "a.png", images.png(250, 100, mode="RGB")).status_code == 200
        refused = upload(client, "b.png", images.png(100, 251, mode="RGB"))
        assert refused.status_code == 400
        assert "at most 2.5:1" in refused.json()["detail"]


def test_an_image_over_the_ratio_in_a_batch_is_refused_alone(
    client: TestClient, settings: Settings
) -> None:
    response = client.post(
        "/upload/batch",
        files=[
            ("files", ("one.jpg", images.jpeg(), "image/jpeg")),
            ("files", ("strip.jpg", images.jpeg(1, 60000), "image/jpeg")),
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [f["filename"] for f in body["files"]] == ["one.jpg"]
    [rejected] = body["rejected"]
    assert (rejected["filename"], rejected["status"]) == ("strip.jpg", 400)
    assert "at most 20:1 is accepted (MAX_ASPECT_RATIO)" in rejected["detail"]
    assert len(stored_images(settings)) == 1


def test_file_over_the_size_limit_is_413_and_not_stored(tmp_path, database_url: str) -> None:
    settings = Settings(
        _env_file=None, upload_dir=tmp_path / "up", database_url=database_url, max_file_size_mb=0.05
    )
    from server import create_app

    with TestClient(create_app(settings)) as client:
        big = images.noisy_jpeg(300, 300)  # about 130 KB
        assert len(big) > settings.max_file_size
        response = upload(client, "big.jpg", big)
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]
        assert stored_images(settings) == []
        assert upload(client, "small.jpg", images.jpeg()).status_code == 200


def test_missing_file_field_is_400(client: TestClient) -> None:
    response = client.post("/upload/", data={"other": "x"})
    assert response.status_code == 400
    assert "No file" in response.json()["detail"]
    assert client.post("/upload/").status_code == 400


HOSTILE_NAMES = [
    ("../../etc/passwd.jpg", "passwd.jpg"),
    ("..\\..\\windows\\car.jpg", "car.jpg"),
    ("car\x00.php.jpg", "car.php.jpg"),
    ("photo\u202egpj.exe.jpg", "photogpj.exe.jpg"),
    ("  spaced \t  out .jpg", "spaced out .jpg"),
]


@pytest.mark.parametrize(("sent", "shown"), HOSTILE_NAMES)
def test_file_names_are_cleaned_for_display(
    client: TestClient, settings: Settings, sent: str, shown: str
) -> None:
    body, headers = images.multipart("file", sent, images.jpeg())
    response = client.post("/upload/", content=body, headers=headers)
    assert response.status_code == 200, response.text
    meta = response.json()["files"][0]
    assert meta["filename"] == shown
    # nothing was written outside the upload folder, nor under the client's name
    assert [p.parent.parent for p in stored_images(settings)] == [settings.upload_dir / "images"]


def test_a_long_name_is_bounded_and_keeps_its_extension(client: TestClient) -> None:
    meta = upload(client, "a" * 3000 + ".jpg", images.jpeg()).json()["files"][0]
    assert len(meta["filename"]) == 200
    assert meta["filename"].endswith("aaa.jpg")


def test_a_5000_character_name_is_refused_clearly(client: TestClient, settings: Settings) -> None:
    response = upload(client, "a" * 5000 + ".jpg", images.jpeg())
    assert response.status_code == 400
    assert "file name" in response.json()["detail"]
    assert stored_images(settings) == []


def test_batch_keeps_the_good_files_and_names_each_refused_one(client: TestClient) -> None:
    response = client.post(
        "/upload/batch",
        files=[
            ("files", ("one.jpg", images.jpeg(), "image/jpeg")),
            ("files", ("fake.jpg", b"hello", "image/jpeg")),
            ("files", ("two.png", images.png(), "image/png")),
            ("files", ("anim.gif", images.other_format("GIF"), "image/gif")),
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert [f["filename"] for f in body["files"]] == ["one.jpg", "two.png"]
    assert "fake.jpg" in body["message"]
    assert "anim.gif" in body["message"]
    assert {(r["filename"], r["status"]) for r in body["rejected"]} == {
        ("fake.jpg", 400),
        ("anim.gif", 415),
    }
    assert len(client.get("/files/").json()) == 2


def test_batch_with_nothing_acceptable_is_400_listing_why(
    client: TestClient, settings: Settings
) -> None:
    response = client.post(
        "/upload/batch/",
        files=[
            ("files", ("a.jpg", b"", "image/jpeg")),
            ("files", ("b.jpg", b"text", "image/jpeg")),
        ],
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "a.jpg" in detail
    assert "empty" in detail
    assert "b.jpg" in detail
    assert stored_images(settings) == []


def test_batch_with_too_many_files_is_refused_whole(tmp_path, database_url: str) -> None:
    settings = Settings(
        _env_file=None,
        upload_dir=tmp_path / "up",
        database_url=database_url,
        max_files_per_request=2,
    )
    from server import create_app

    with TestClient(create_app(settings)) as client:
        files = [("files", (f"{i}.jpg", images.jpeg(), "image/jpeg")) for i in range(3)]
        response = client.post("/upload/batch", files=files)
        assert response.status_code == 400
        assert "Too many files" in response.json()["detail"]
        assert stored_images(settings) == []


def _scratch(settings: Settings) -> list[str]:
    """What the server holds in tmp/ besides each process's lock file."""
    return [
        p.name for p in (settings.upload_dir / "tmp").rglob("*") if p.is_file() and p.name != "lock"
    ]


def test_a_body_cut_off_mid_file_is_400_and_leaves_nothing(
    client: TestClient, settings: Settings
) -> None:
    body, headers = images.multipart("file", "car.jpg", images.noisy_jpeg(300, 300))
    response = client.post("/upload/", content=body[: len(body) // 2], headers=headers)
    assert response.status_code == 400
    assert "closing boundary" in response.json()["detail"]
    assert stored_images(settings) == []
    assert _scratch(settings) == []


def test_a_file_over_the_limit_in_a_batch_is_refused_alone(tmp_path, database_url: str) -> None:
    settings = Settings(
        _env_file=None, upload_dir=tmp_path / "up", database_url=database_url, max_file_size_mb=0.05
    )
    from server import create_app

    with TestClient(create_app(settings)) as client:
        big = images.noisy_jpeg(300, 300)  # about 130 KB: read past, never kept
        response = client.post(
            "/upload/batch",
            files=[
                ("files", ("one.jpg", images.jpeg(), "image/jpeg")),
                ("files", ("big.jpg", big, "image/jpeg")),
                ("files", ("two.png", images.png(), "image/png")),
            ],
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert [f["filename"] for f in body["files"]] == ["one.jpg", "two.png"]
        assert [(r["filename"], r["status"]) for r in body["rejected"]] == [("big.jpg", 413)]
        assert "limit" in body["rejected"][0]["detail"]
        assert len(stored_images(settings)) == 2
        assert _scratch(settings) == []


def test_other_form_fields_are_read_past_but_bounded(client: TestClient) -> None:
    response = client.post(
        "/upload/",
        data={"note": "x" * 100_000, "other": "y"},
        files={"file": ("car.jpg", images.jpeg(), "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["files"][0]["filename"] == "car.jpg"
    many = client.post(
        "/upload/",
        data={f"f{i}": "x" for i in range(40)},
        files={"file": ("car.jpg", images.jpeg(), "image/jpeg")},
    )
    assert many.status_code == 400
    assert "other parts" in many.json()["detail"]


def test_an_upload_that_is_not_multipart_is_told_which_field_to_send(client: TestClient) -> None:
    response = client.post(
        "/upload/", content=images.jpeg(), headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 400
    assert "form field 'file'" in response.json()["detail"]
    no_boundary = client.post(
        "/upload/", content=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 400
    assert "boundary" in no_boundary.json()["detail"]
