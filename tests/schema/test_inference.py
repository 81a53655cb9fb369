"""The GraphQL inference mutations, `inferFile` and `inferFiles`, with the local
recognizer (tiny model) behind them."""

from __future__ import annotations

from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests import images
from tests.helpers import gql, upload_bytes


def test_infer_file_over_graphql(local_settings: Settings) -> None:
    with TestClient(create_app(local_settings)) as client:
        file_id = upload_bytes(client, "a.png", images.png(300, 200))
        result = gql(
            client,
            "mutation($id: ID!) { inferFile(id: $id) { file { status modelId recognizer inferenceMs "
            "topPrediction { label make model bodyType year confidence } predictions { rank } } errors { code } } }",
            {"id": str(file_id)},
        )["data"]["inferFile"]
        assert result["errors"] == []
        file = result["file"]
        assert (file["status"], file["recognizer"]) == ("DONE", "local")
        assert [p["rank"] for p in file["predictions"]] == [1, 2, 3, 4, 5]
        assert file["topPrediction"]["make"]
        assert file["topPrediction"]["year"]
        missing = gql(
            client, 'mutation { inferFile(id: "424242") { file { id } errors { code } } }'
        )
        assert missing["data"]["inferFile"] == {"file": None, "errors": [{"code": "NOT_FOUND"}]}


def test_infer_files_over_graphql_gives_files_and_errors_by_index(
    local_settings: Settings,
) -> None:
    with TestClient(create_app(local_settings)) as client:
        a = upload_bytes(client, "a.jpg", images.jpeg(color=(200, 0, 0)))
        b = upload_bytes(client, "b.png", images.png())
        result = gql(
            client,
            "mutation($ids: [ID!]!) { inferFiles(ids: $ids) { files { databaseId status } errors { index code } } }",
            {"ids": [str(a), "nope", str(b)]},
        )["data"]["inferFiles"]
        assert [f["databaseId"] for f in result["files"]] == [a, b]
        assert result["errors"] == [{"index": 1, "code": "NOT_FOUND"}]
