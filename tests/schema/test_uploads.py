"""GraphQL uploads over the multipart request spec, and their CSRF guard."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from config import Settings
from tests import images
from tests.conftest import stored_images
from tests.helpers import gql, gql_upload

UPLOAD_ONE = "mutation($file: Upload!) { uploadFile(file: $file) { file { databaseId filename mimeType width height status } errors { code message input } } }"
UPLOAD_MANY = "mutation($files: [Upload!]!) { uploadFiles(files: $files) { files { databaseId filename } errors { code index input message } } }"


def test_upload_file_stores_the_image(client: TestClient) -> None:
    data = images.jpeg(320, 200)
    response = gql_upload(
        client, UPLOAD_ONE, {"0": ("car.jpg", data)}, {"file": None}, {"0": ["variables.file"]}
    )
    assert response.status_code == 200
    payload = response.json()["data"]["uploadFile"]
    assert payload["errors"] == []
    assert payload["file"] | {"databaseId": 0} == {
        "databaseId": 0,
        "filename": "car.jpg",
        "mimeType": "image/jpeg",
        "width": 320,
        "height": 200,
        "status": "PENDING",
    }
    # the same file, seen over REST
    assert client.get(f"/files/{payload['file']['databaseId']}/image").content == data


def test_upload_without_the_csrf_header_is_refused_and_stores_nothing(
    client: TestClient, settings: Settings
) -> None:
    response = gql_upload(
        client,
        UPLOAD_ONE,
        {"0": ("car.jpg", images.jpeg())},
        {"file": None},
        {"0": ["variables.file"]},
        headers={},
    )
    assert response.status_code == 400
    assert "Apollo-Require-Preflight" in response.json()["errors"][0]["message"]
    assert stored_images(settings) == []
    # X-Apollo-Operation-Name is the other accepted header
    ok = gql_upload(
        client,
        UPLOAD_ONE,
        {"0": ("car.jpg", images.jpeg())},
        {"file": None},
        {"0": ["variables.file"]},
        headers={"X-Apollo-Operation-Name": "Upload"},
    )
    assert ok.json()["data"]["uploadFile"]["errors"] == []


def test_simple_form_posts_are_refused_too(client: TestClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post(
            "/graphql",
            content=b'{"query": "{ files(first: 1) { totalCount } }"}',
            headers={"content-type": content_type},
        )
        assert response.status_code == 400


def test_a_bad_file_is_a_typed_user_error(client: TestClient, settings: Settings) -> None:
    response = gql_upload(
        client,
        UPLOAD_ONE,
        {"0": ("notes.jpg", b"plain text")},
        {"file": None},
        {"0": ["variables.file"]},
    )
    payload = response.json()["data"]["uploadFile"]
    assert payload["file"] is None
    assert payload["errors"] == [
        {
            "code": "INVALID_IMAGE",
            "message": "The file is not an image (JPEG or PNG expected).",
            "input": "notes.jpg",
        }
    ]
    assert stored_images(settings) == []


def test_an_image_over_the_aspect_ratio_is_an_invalid_image_user_error(
    client: TestClient, settings: Settings
) -> None:
    response = gql_upload(
        client,
        UPLOAD_ONE,
        {"0": ("strip.jpg", images.jpeg(1, 2000))},
        {"file": None},
        {"0": ["variables.file"]},
    )
    payload = response.json()["data"]["uploadFile"]
    assert payload["file"] is None
    assert payload["errors"] == [
        {
            "code": "INVALID_IMAGE",
            "message": "The image is 1×2000 pixels: its long side is 2,000 times its short side;"
            " at most 20:1 is accepted (MAX_ASPECT_RATIO).",
            "input": "strip.jpg",
        }
    ]
    assert stored_images(settings) == []


def test_upload_files_keeps_good_ones_and_reports_each_bad_one(client: TestClient) -> None:
    files = {
        "0": ("a.jpg", images.jpeg()),
        "1": ("b.gif", images.other_format("GIF")),
        "2": ("c.png", images.png()),
        "3": ("d.jpg", b""),
    }
    response = gql_upload(
        client,
        UPLOAD_MANY,
        files,
        {"files": [None] * 4},
        {str(i): [f"variables.files.{i}"] for i in range(4)},
    )
    payload = response.json()["data"]["uploadFiles"]
    assert [f["filename"] for f in payload["files"]] == ["a.jpg", "c.png"]
    assert [(e["index"], e["input"], e["code"]) for e in payload["errors"]] == [
        (1, "b.gif", "UNSUPPORTED_TYPE"),
        (3, "d.jpg", "EMPTY_FILE"),
    ]


def test_upload_files_over_the_count_limit_stores_nothing(
    client: TestClient, settings: Settings
) -> None:
    count = settings.max_files_per_request + 1
    files = {str(i): (f"{i}.jpg", images.jpeg()) for i in range(count)}
    response = gql_upload(
        client,
        UPLOAD_MANY,
        files,
        {"files": [None] * count},
        {str(i): [f"variables.files.{i}"] for i in range(count)},
    )
    payload = response.json()["data"]["uploadFiles"]
    assert payload["files"] == []
    assert payload["errors"][0]["code"] == "TOO_MANY_FILES"
    assert stored_images(settings) == []


def test_a_value_that_is_not_a_file_is_refused_with_how_to_send_one(client: TestClient) -> None:
    # found by tests/fuzz: the Upload scalar takes any literal or JSON value
    one = gql(
        client, 'mutation { uploadFile(file: "car.jpg") { file { id } errors { code message } } }'
    )
    [error] = one["data"]["uploadFile"]["errors"]
    assert error["code"] == "EMPTY_FILE"
    assert "multipart request spec" in error["message"]
    many = gql(
        client,
        "mutation ($f: [Upload!]!) { uploadFiles(files: $f) { files { id } errors { code message } } }",
        {"f": [{"name": "x"}, 3]},
    )
    [error] = many["data"]["uploadFiles"]["errors"]
    assert error["message"].startswith("Item 0 of `files` is not an uploaded file")
    assert gql(client, "{ files { totalCount } }")["data"]["files"]["totalCount"] == 0


@pytest.mark.parametrize("kind", list(images.polyglots()))
def test_polyglots_are_refused_and_nothing_is_stored(
    client: TestClient, settings: Settings, kind: str
) -> None:
    name, data = images.polyglots()[kind]
    response = gql_upload(
        client, UPLOAD_ONE, {"0": (name, data)}, {"file": None}, {"0": ["variables.file"]}
    )
    payload = response.json()["data"]["uploadFile"]
    assert payload["file"] is None
    [error] = payload["errors"]
    assert error["code"] == "INVALID_IMAGE"
    assert "end" in error["message"]
    assert stored_images(settings) == []


def test_refusals_never_show_the_servers_paths(client: TestClient, settings: Settings) -> None:
    response = gql_upload(
        client,
        UPLOAD_ONE,
        {"0": ("x.jpg", b"\xff\xd8\xff")},
        {"file": None},
        {"0": ["variables.file"]},
    )
    [error] = response.json()["data"]["uploadFile"]["errors"]
    assert error["code"] == "INVALID_IMAGE"
    for leak in (str(settings.upload_dir), "/tmp", ".part", "uploads/"):
        assert leak not in error["message"], error["message"]
