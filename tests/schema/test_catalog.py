"""The catalog over GraphQL: seeded, paged, searched, edited, with typed errors."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests.helpers import gql

SEEDED = 196 + 458  # Stanford Cars classes + models sold since 2013 (the seed migration)

ENTRY = "id databaseId label make model bodyType yearFrom yearTo enabled"
ADD = (
    "mutation($e: [CatalogEntryInput!]!) { addCatalogEntries(entries: $e) { entries { "
    + ENTRY
    + " } errors { code index input message } } }"
)


def test_the_catalog_is_seeded_and_paged(client: TestClient) -> None:
    query = "query($after: String) { catalog(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { label make yearFrom yearTo } } }"
    labels: list[str] = []
    after = None
    while True:
        page = gql(client, query, {"after": after})["data"]["catalog"]
        assert page["totalCount"] == SEEDED
        labels += [n["label"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(labels) == len(set(labels)) == SEEDED
    assert "BMW M3 Coupe 2012" in labels  # a Stanford Cars class, one year
    assert "Tesla Model Y SUV 2020+" in labels  # a current model, still made


def test_search_and_make_filters(client: TestClient) -> None:
    found = gql(
        client,
        '{ catalog(first: 50, search: "model y") { totalCount nodes { label } } '
        ' tesla: catalog(first: 50, make: "TESLA") { totalCount nodes { make } } }',
    )["data"]
    assert [n["label"] for n in found["catalog"]["nodes"]] == ["Tesla Model Y SUV 2020+"]
    assert found["tesla"]["totalCount"] >= 6
    assert {n["make"] for n in found["tesla"]["nodes"]} == {"Tesla"}


def test_add_update_switch_off_and_remove(client: TestClient) -> None:
    added = gql(
        client,
        ADD,
        {
            "e": [
                {"make": " Rivian ", "model": "R1T", "bodyType": "Pickup", "yearFrom": 2022},
                {"make": "Rivian", "model": "R1S", "bodyType": "SUV", "yearFrom": 2022},
            ]
        },
    )["data"]["addCatalogEntries"]
    assert added["errors"] == []
    r1t, r1s = added["entries"]
    assert (r1t["label"], r1t["make"], r1t["enabled"]) == (
        "Rivian R1T Pickup 2022+",
        "Rivian",
        True,
    )

    changed = gql(
        client,
        "mutation($id: ID!) { updateCatalogEntry(id: $id, changes: {enabled: false, yearTo: 2025}) "
        "{ entry { " + ENTRY + " } errors { code } } }",
        {"id": r1t["id"]},
    )["data"]["updateCatalogEntry"]
    assert changed["errors"] == []
    assert (changed["entry"]["enabled"], changed["entry"]["label"]) == (
        False,
        "Rivian R1T Pickup 2022-2025",
    )
    # Switched off, not deleted: still listed.
    listed = gql(client, '{ catalog(make: "rivian") { nodes { label enabled } } }')["data"]
    assert {(n["label"], n["enabled"]) for n in listed["catalog"]["nodes"]} == {
        ("Rivian R1T Pickup 2022-2025", False),
        ("Rivian R1S SUV 2022+", True),
    }

    removed = gql(
        client,
        "mutation($ids: [ID!]!) { removeCatalogEntries(ids: $ids) { removedIds errors { code index } } }",
        {"ids": [r1s["id"], "999999"]},
    )["data"]["removeCatalogEntries"]
    assert removed["removedIds"] == [r1s["id"]]
    assert removed["errors"] == [{"code": "NOT_FOUND", "index": 1}]
    left = gql(client, '{ catalog(make: "Rivian") { totalCount } }')["data"]["catalog"]
    assert left["totalCount"] == 1


def test_typed_errors_duplicate_empty_name_too_many(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings(max_batch_ids=3))) as client:
        result = gql(
            client,
            ADD,
            {
                "e": [
                    {
                        "make": "BMW",
                        "model": "M3",
                        "bodyType": "Coupe",
                        "yearFrom": 2012,
                        "yearTo": 2012,
                    },
                    {"make": "  ", "model": "X"},
                    {"make": "Lucid", "model": "Air", "bodyType": "Sedan", "yearFrom": 2022},
                ]
            },
        )["data"]["addCatalogEntries"]
        assert [e["label"] for e in result["entries"]] == ["Lucid Air Sedan 2022+"]
        assert [(e["code"], e["index"]) for e in result["errors"]] == [
            ("DUPLICATE", 0),
            ("EMPTY_NAME", 1),
        ]
        again = gql(
            client,
            ADD,
            {"e": [{"make": "lucid", "model": "AIR", "bodyType": "sedan", "yearFrom": 2022}]},
        )
        assert again["data"]["addCatalogEntries"]["errors"][0]["code"] == "DUPLICATE"
        many = gql(client, ADD, {"e": [{"make": "A", "model": str(i)} for i in range(4)]})
        assert many["data"]["addCatalogEntries"] == {
            "entries": [],
            "errors": [
                {
                    "code": "TOO_MANY",
                    "index": None,
                    "input": None,
                    "message": many["data"]["addCatalogEntries"]["errors"][0]["message"],
                }
            ],
        }
        # Renaming an entry onto another one is a duplicate too.
        lucid = gql(client, '{ catalog(make: "Lucid") { nodes { id } } }')["data"]["catalog"][
            "nodes"
        ][0]
        clash = gql(
            client,
            'mutation($id: ID!) { updateCatalogEntry(id: $id, changes: {make: "BMW", model: "M3", bodyType: "Coupe", yearFrom: 2012, yearTo: 2012}) { entry { id } errors { code } } }',
            {"id": lucid["id"]},
        )["data"]["updateCatalogEntry"]
        assert clash == {"entry": None, "errors": [{"code": "DUPLICATE"}]}
        empty = gql(
            client,
            'mutation($id: ID!) { updateCatalogEntry(id: $id, changes: {model: " "}) { errors { code } } }',
            {"id": lucid["id"]},
        )["data"]["updateCatalogEntry"]
        assert empty == {"errors": [{"code": "EMPTY_NAME"}]}
