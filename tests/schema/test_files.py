"""GraphQL: the files connection, one file, and the file mutations."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from config import Settings
from tests.conftest import stored_images
from tests.helpers import gql, record_predictions, services, upload_jpeg

FILES = """
query($first: Int!, $after: String, $status: FileStatus, $search: String, $order: FileOrder!) {
  files(first: $first, after: $after, status: $status, search: $search, order: $order) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id databaseId filename status } }
  }
}
"""


def page(client: TestClient, **variables: Any) -> dict[str, Any]:
    variables = {"first": 20, "order": "NEWEST_FIRST", **variables}
    result = gql(client, FILES, variables)
    assert "errors" not in result, result
    return result["data"]["files"]  # type: ignore[no-any-return]


def test_pages_walk_every_file_once_with_cursors(client: TestClient) -> None:
    ids = [upload_jpeg(client, f"{i}.jpg", color=(i * 20, 9, 9))["id"] for i in range(7)]
    seen: list[int] = []
    after = None
    while True:
        result = page(client, first=3, after=after, order="OLDEST_FIRST")
        assert result["totalCount"] == 7
        seen += [e["node"]["databaseId"] for e in result["edges"]]
        assert result["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    assert seen == ids
    assert [e["node"]["databaseId"] for e in page(client)["edges"]] == ids[::-1]


def test_filters_by_status_and_name(client: TestClient) -> None:
    red = upload_jpeg(client, "Red_Audi 100%.jpg", color=(255, 0, 0))
    upload_jpeg(client, "blue bmw.jpg", color=(0, 0, 255))
    record_predictions(client, red["id"], [("Audi R8 Coupe 2012", 0.7)])
    done = page(client, status="DONE")
    assert [e["node"]["filename"] for e in done["edges"]] == ["Red_Audi 100%.jpg"]
    assert done["totalCount"] == 1
    assert page(client, status="PENDING")["totalCount"] == 1
    assert page(client, search="AUDI")["totalCount"] == 1
    # LIKE wildcards in the search are taken literally
    assert page(client, search="100%")["totalCount"] == 1
    assert page(client, search="_")["totalCount"] == 1
    assert page(client, search="%")["totalCount"] == 1
    assert page(client, search="zzz")["totalCount"] == 0


def test_filters_by_the_make_of_the_best_guess(client: TestClient) -> None:
    audi = upload_jpeg(client, "a.jpg", color=(255, 0, 0))
    bmw = upload_jpeg(client, "b.jpg", color=(0, 0, 255))
    upload_jpeg(client, "pending.jpg", color=(0, 255, 0))
    record_predictions(
        client, audi["id"], [("Audi R8 Coupe 2012", 0.7), ("BMW M3 Coupe 2012", 0.2)]
    )
    record_predictions(client, bmw["id"], [("BMW X5 SUV 2007", 0.9)])
    query = "query ($m: String) { files(make: $m) { totalCount nodes { databaseId } } }"
    by_make = gql(client, query, {"m": "bmw"})["data"]["files"]  # any case; top-1 only
    assert by_make["totalCount"] == 1
    assert [n["databaseId"] for n in by_make["nodes"]] == [bmw["id"]]
    assert gql(client, query, {"m": "Audi"})["data"]["files"]["totalCount"] == 1
    assert gql(client, query, {"m": "Tesla"})["data"]["files"]["totalCount"] == 0
    assert gql(client, query, {"m": None})["data"]["files"]["totalCount"] == 3


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        ({"first": 101}, "between 0 and 100"),
        ({"first": -1}, "between 0 and 100"),
        ({"after": "bogus"}, "cursor"),
    ],
)
def test_bad_paging_arguments_are_clear_errors(
    client: TestClient, variables: dict[str, Any], words: str
) -> None:
    result = gql(client, FILES, {"first": 20, "order": "NEWEST_FIRST", **variables})
    assert result["data"] is None
    [error] = result["errors"]
    assert words in error["message"]
    assert error["extensions"]["code"] == "INVALID_INPUT"


def test_file_by_global_or_database_id(client: TestClient) -> None:
    meta = upload_jpeg(client)
    query = "query($id: ID!) { file(id: $id) { id databaseId filename mimeType size width height sha256 uploadedAt status error imageUrl thumbnailUrl predictions { label } topPrediction { label } } }"
    by_db = gql(client, query, {"id": str(meta["id"])})["data"]["file"]
    by_global = gql(client, query, {"id": by_db["id"]})["data"]["file"]
    assert by_db == by_global
    assert by_db["databaseId"] == meta["id"]
    assert by_db["imageUrl"] == meta["path"]
    assert by_db["thumbnailUrl"] == meta["thumbnail_url"]
    assert (by_db["size"], by_db["sha256"], by_db["status"]) == (
        meta["size_bytes"],
        meta["sha256"],
        "PENDING",
    )
    for missing in ("999", "RmlsZTo5OTk=", "nonsense", "-5", "9" * 40):
        assert gql(client, query, {"id": missing}) == {"data": {"file": None}}


def test_predictions_come_ranked_with_their_parts(client: TestClient) -> None:
    meta = upload_jpeg(client)
    record_predictions(client, meta["id"], [("BMW M3 Coupe 2012", 0.8), ("BMW M5 Sedan 2010", 0.1)])
    query = "query($id: ID!) { file(id: $id) { status predictions { rank label confidence make } topPrediction { label } } }"
    file = gql(client, query, {"id": str(meta["id"])})["data"]["file"]
    assert file["status"] == "DONE"
    assert [(p["rank"], p["label"], p["make"]) for p in file["predictions"]] == [
        (1, "BMW M3 Coupe 2012", "BMW"),
        (2, "BMW M5 Sedan 2010", "BMW"),
    ]
    assert file["topPrediction"]["label"] == "BMW M3 Coupe 2012"


def test_a_page_with_predictions_costs_a_fixed_number_of_queries(client: TestClient) -> None:
    for i in range(12):
        meta = upload_jpeg(client, f"{i}.jpg", color=(i * 20, 0, 0))
        record_predictions(
            client, meta["id"], [("Audi S4 Sedan 2012", 0.6), ("Audi S5 Coupe 2012", 0.3)]
        )
    statements: list[str] = []
    engine = services(client).engine.sync_engine

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        query = "{ files(first: 50) { totalCount edges { node { filename predictions { label } topPrediction { label } } } } }"
        result = gql(client, query)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(result["data"]["files"]["edges"]) == 12
    # the page, the count, and every file's predictions in one batch
    assert len(statements) == 3, statements


def test_delete_file_and_delete_files_report_each_id(
    client: TestClient, settings: Settings
) -> None:
    a, b, c = (upload_jpeg(client, f"{i}.jpg", color=(0, 0, i * 60))["id"] for i in range(3))
    one = gql(
        client,
        "mutation($id: ID!) { deleteFile(id: $id) { deletedId errors { code } } }",
        {"id": str(a)},
    )
    assert one["data"]["deleteFile"]["errors"] == []
    again = gql(
        client,
        "mutation($id: ID!) { deleteFile(id: $id) { deletedId errors { code message input } } }",
        {"id": str(a)},
    )
    assert again["data"]["deleteFile"]["deletedId"] is None
    assert again["data"]["deleteFile"]["errors"][0]["code"] == "NOT_FOUND"
    many = gql(
        client,
        "mutation($ids: [ID!]!) { deleteFiles(ids: $ids) { deletedIds errors { code index input } } }",
        {"ids": [str(b), "nope", str(c), str(a)]},
    )["data"]["deleteFiles"]
    assert len(many["deletedIds"]) == 2
    assert [(e["index"], e["input"], e["code"]) for e in many["errors"]] == [
        (1, "nope", "NOT_FOUND"),
        (3, str(a), "NOT_FOUND"),
    ]
    assert client.get("/files/").json() == []
    assert stored_images(settings) == []


def test_delete_files_refuses_more_ids_than_the_limit(
    client: TestClient, settings: Settings
) -> None:
    ids = [str(i) for i in range(1, settings.max_batch_ids + 2)]
    result = gql(
        client, "mutation($ids: [ID!]!) { deleteFiles(ids: $ids) { deletedIds } }", {"ids": ids}
    )
    assert "At most" in result["errors"][0]["message"]


def test_reprocess_file_resets_to_pending(client: TestClient) -> None:
    meta = upload_jpeg(client)
    record_predictions(client, meta["id"], [("BMW M3 Coupe 2012", 0.9)])
    result = gql(
        client,
        "mutation($id: ID!) { reprocessFile(id: $id) { file { status predictions { label } } errors { code } } }",
        {"id": str(meta["id"])},
    )["data"]["reprocessFile"]
    assert result == {"file": {"status": "PENDING", "predictions": []}, "errors": []}
    missing = gql(client, 'mutation { reprocessFile(id: "12345") { file { id } errors { code } } }')
    assert missing["data"]["reprocessFile"] == {"file": None, "errors": [{"code": "NOT_FOUND"}]}


def test_malformed_queries_get_clear_errors_and_the_server_goes_on(client: TestClient) -> None:
    syntax = client.post("/graphql", json={"query": "{ files(first: 1) { edges "})
    assert "Syntax Error" in syntax.json()["errors"][0]["message"]
    unknown = client.post("/graphql", json={"query": "{ nope }"})
    assert "Cannot query field 'nope'" in unknown.json()["errors"][0]["message"]
    wrong_type = client.post("/graphql", json={"query": '{ files(first: "x") { totalCount } }'})
    assert "Int cannot represent" in wrong_type.json()["errors"][0]["message"]
    not_json = client.post(
        "/graphql", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert gql(client, "{ files(first: 1) { totalCount } }") == {
        "data": {"files": {"totalCount": 0}}
    }


def test_graphiql_opens_in_a_browser(client: TestClient) -> None:
    response = client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_a_json_query_over_the_body_limit_is_413(client: TestClient, settings: Settings) -> None:
    huge = "{ files(first: 1) { totalCount } }" + " " * (settings.max_json_body_kb * 1024)
    response = client.post("/graphql", json={"query": huge})
    assert response.status_code == 413
