"""Relay's object identification: `node(id:)` and `nodes(ids:)` refetch any
object by its global id; PUBLIC_BASE_URL makes the image URLs absolute."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests.helpers import gql, upload_jpeg

FIELDS = "id databaseId filename imageUrl thumbnailUrl"
NODE = f"query($id: ID!) {{ node(id: $id) {{ __typename id ... on File {{ {FIELDS} }} }} }}"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on File { databaseId } } }"


def _global(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_node_refetches_a_file_by_the_id_it_was_given(client: TestClient) -> None:
    file_id = upload_jpeg(client, "front.jpg")["id"]
    listed = gql(client, f"{{ files {{ nodes {{ {FIELDS} }} }} }}")["data"]["files"]["nodes"][0]
    node = gql(client, NODE, {"id": listed["id"]})["data"]["node"]
    assert node == {"__typename": "File", **listed}
    assert node["id"] == _global(f"File:{file_id}")  # the global ids clients already hold
    assert node["imageUrl"] == f"/files/{file_id}/image"  # no PUBLIC_BASE_URL: a path


def test_nodes_answers_in_order_with_null_for_ids_that_name_nothing(client: TestClient) -> None:
    a = upload_jpeg(client, "a.jpg", color=(200, 0, 0))["id"]
    b = upload_jpeg(client, "b.jpg", color=(0, 200, 0))["id"]
    gone = upload_jpeg(client, "c.jpg", color=(0, 0, 200))["id"]
    client.delete(f"/files/{gone}")
    ids = [
        _global(f"File:{b}"),
        _global(f"File:{gone}"),  # deleted
        _global("Prediction:1"),  # not a type with global ids
        "not base64!",
        str(a),  # a database id is not a global id
        _global(f"File:{a}"),
    ]
    answer = gql(client, NODES, {"ids": ids})
    assert "errors" not in answer
    assert answer["data"]["nodes"] == [
        {"id": ids[0], "databaseId": b},
        None,
        None,
        None,
        None,
        {"id": ids[5], "databaseId": a},
    ]
    assert gql(client, NODE, {"id": ids[1]})["data"]["node"] is None


def test_nodes_refuses_more_ids_than_the_batch_limit(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings(max_batch_ids=3))) as client:
        answer = gql(client, NODES, {"ids": [_global(f"File:{i}") for i in range(1, 5)]})
    assert answer["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


def test_public_base_url_makes_image_urls_absolute(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(public_base_url="https://cars.example.com/")
    with TestClient(create_app(settings)) as client:
        file_id = upload_jpeg(client)["id"]
        query = "{ files { nodes { imageUrl thumbnailUrl } } }"
        [urls] = gql(client, query)["data"]["files"]["nodes"]
        assert urls == {
            "imageUrl": f"https://cars.example.com/files/{file_id}/image",
            "thumbnailUrl": f"https://cars.example.com/files/{file_id}/thumbnail",
        }
        # the path part is where this server serves them
        for url in urls.values():
            served = client.get(url.removeprefix("https://cars.example.com"))
            assert served.status_code == 200
            assert served.headers["content-type"] == "image/jpeg"
        # REST keeps its paths (the compatibility contract)
        assert client.get(f"/files/{file_id}").json()["path"] == f"/files/{file_id}/image"


@pytest.mark.parametrize("value", ["cars.example.com", "ftp://cars.example.com", "https://"])
def test_public_base_url_must_be_an_http_url(value: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        Settings(_env_file=None, public_base_url=value)
