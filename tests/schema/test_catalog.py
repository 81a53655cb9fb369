"""The catalog over GraphQL: seeded, paged, searched, edited, with typed errors."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from anyio.from_thread import start_blocking_portal
from starlette.testclient import TestClient

from config import Settings
from db.catalog import catalog_version
from db.engine import asyncpg_dsn
from server import create_app
from testkit.cluster import fresh_database
from tests.helpers import gql, portal_run, services

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


# Another replica's transaction that has just stored an entry and not yet
# committed (issue 17, item 6), on PostgreSQL, where a second insert of the same
# key waits for the first transaction to end. The request is let go on only once
# it waits: it has made whatever check it makes by then, so the race is lost
# every time, not only when the timing is unlucky.

WAITS_FOR_ME = """
SELECT EXISTS (
    SELECT 1 FROM pg_locks mine JOIN pg_locks other ON other.transactionid = mine.transactionid
    WHERE mine.pid = pg_backend_pid() AND mine.locktype = 'transactionid' AND NOT other.granted
)"""
STORE = """
INSERT INTO catalog_entries (make, model, enabled, key, created_at, updated_at)
VALUES ($1::text, $2::text, true, lower($1::text || ' ' || $2::text), now(), now())"""


@contextmanager
def other_replica_storing(url: str, make: str, model: str) -> Iterator[Callable[[], None]]:
    """Stores the entry in a transaction of its own and yields `commit`, which
    waits until another session waits for that transaction, then commits."""
    with start_blocking_portal() as portal:
        connection = portal.call(asyncpg.connect, asyncpg_dsn(url))

        async def commit() -> None:
            for _ in range(6000):  # a guard against a hang, not a measure
                if await connection.fetchval(WAITS_FOR_ME):
                    await connection.execute("COMMIT")
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the request never waited for the other transaction")

        try:
            portal.call(connection.execute, "BEGIN")
            portal.call(connection.execute, STORE, make, model)
            yield lambda: portal.call(commit)
        finally:
            portal.call(connection.close)


def _version(client: TestClient) -> int:
    async def read() -> int:
        async with services(client).session() as session:
            return await catalog_version(session)

    version: int = portal_run(client, read)
    return version


@pytest.fixture
def on_postgresql(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    with fresh_database() as url:
        settings = Settings(_env_file=None, upload_dir=tmp_path / "uploads", database_url=url)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield client, url


def test_an_entry_another_replica_is_committing_is_a_duplicate_and_the_rest_is_stored(
    on_postgresql: tuple[TestClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, url = on_postgresql
    before = _version(client)
    entries = [{"make": "Zeekr", "model": "001"}, {"make": "Zeekr", "model": "007"}]
    with (
        caplog.at_level(logging.INFO),
        other_replica_storing(url, "Zeekr", "001") as commit,
        ThreadPoolExecutor(1) as pool,
    ):
        sent = pool.submit(gql, client, ADD, {"e": entries})
        commit()
        result = sent.result()
    assert "errors" not in result, result
    payload = result["data"]["addCatalogEntries"]
    assert [e["label"] for e in payload["entries"]] == ["Zeekr 007"]
    assert [(e["code"], e["index"]) for e in payload["errors"]] == [("DUPLICATE", 0)]
    listed = gql(client, '{ catalog(make: "zeekr") { nodes { label } } }')["data"]["catalog"]
    assert sorted(n["label"] for n in listed["nodes"]) == ["Zeekr 001", "Zeekr 007"]
    assert _version(client) == before + 1  # the other replica's insert bumps nothing here
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_renaming_onto_a_label_another_replica_is_committing_is_a_duplicate(
    on_postgresql: tuple[TestClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, url = on_postgresql
    added = gql(client, ADD, {"e": [{"make": "Zeekr", "model": "X"}]})
    [entry] = added["data"]["addCatalogEntries"]["entries"]
    before = _version(client)
    rename = (
        'mutation($id: ID!) { updateCatalogEntry(id: $id, changes: {model: "009"})'
        " { entry { label } errors { code message } } }"
    )
    with (
        caplog.at_level(logging.INFO),
        other_replica_storing(url, "Zeekr", "009") as commit,
        ThreadPoolExecutor(1) as pool,
    ):
        sent = pool.submit(gql, client, rename, {"id": entry["id"]})
        commit()
        result = sent.result()
    assert "errors" not in result, result
    assert result["data"]["updateCatalogEntry"] == {
        "entry": None,
        "errors": [{"code": "DUPLICATE", "message": "'Zeekr 009' is already in the catalog."}],
    }
    listed = gql(client, '{ catalog(make: "zeekr") { nodes { label } } }')["data"]["catalog"]
    assert sorted(n["label"] for n in listed["nodes"]) == ["Zeekr 009", "Zeekr X"]
    assert _version(client) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# Inputs Python or a database cannot take (issue 17, item 7): NOT_FOUND or
# INVALID_INPUT in words, the same on SQLite and PostgreSQL, never
# "Unexpected error." and never logged as an error.

HUGE = "9" * 5000
UPDATE = (
    "mutation($id: ID!, $c: CatalogEntryChanges!) { updateCatalogEntry(id: $id, changes: $c)"
    " { entry { label } errors { code message } } }"
)
REMOVE = (
    "mutation($ids: [ID!]!) { removeCatalogEntries(ids: $ids)"
    " { removedIds errors { code index message } } }"
)
SURROGATE = "`{}` holds a lone surrogate (such as \\ud800), which is not a character."


def _send(client: TestClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """As `gql`, but the body escapes everything past ASCII (ensure_ascii), so
    that it can carry a lone surrogate as JSON's "\\ud800"."""
    body = json.dumps({"query": query, "variables": variables})
    response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_ids_of_thousands_of_digits_are_not_found(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    huge_global = base64.b64encode(f"CatalogEntry:{HUGE}".encode()).decode()
    odd_digits = base64.b64encode("CatalogEntry:²".encode()).decode()
    file_id = base64.b64encode(b"File:1").decode()  # another type's id
    with caplog.at_level(logging.INFO):
        for value in (HUGE, huge_global, "²", odd_digits, file_id, "0"):
            updated = _send(client, UPDATE, {"id": value, "c": {"enabled": False}})
            assert "errors" not in updated, updated
            [error] = updated["data"]["updateCatalogEntry"]["errors"]
            assert error["code"] == "NOT_FOUND"
            assert error["message"].startswith("No catalog entry with id ")
            assert len(error["message"]) < 100  # the id is not echoed whole
        removed = _send(client, REMOVE, {"ids": [HUGE, huge_global, "1"]})
        padded = _send(client, UPDATE, {"id": "0" * 5000 + "1", "c": {"enabled": False}})
    assert "errors" not in removed, removed
    payload = removed["data"]["removeCatalogEntries"]
    assert payload["removedIds"] == [base64.b64encode(b"CatalogEntry:1").decode()]
    assert [(e["code"], e["index"]) for e in payload["errors"]] == [
        ("NOT_FOUND", 0),
        ("NOT_FOUND", 1),
    ]
    assert padded["data"]["updateCatalogEntry"]["errors"] == [
        {"code": "NOT_FOUND", "message": "No catalog entry with id 1."}  # removed just above
    ]
    assert _errors_logged(caplog) == []


def test_filters_no_database_could_match_are_invalid_input(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    query = (
        "query($s: String, $m: String) { catalog(search: $s, make: $m)"
        " { totalCount nodes { label } } }"
    )
    cases = [
        ({"s": "a\x00b"}, "`search` cannot contain NUL characters."),
        ({"m": "BMW\x00"}, "`make` cannot contain NUL characters."),
        ({"s": "\ud800"}, SURROGATE.format("search")),
        ({"m": "Tesla\udc00"}, SURROGATE.format("make")),
        # SQLite refuses LIKE patterns past 50 KB: that was "unavailable" (503)
        ({"s": "x" * 60_000}, "`search` is at most 300 characters long; got 60,000."),
        ({"m": "x" * 65}, "`make` is at most 64 characters long; got 65."),
    ]
    with caplog.at_level(logging.INFO):
        for variables, said in cases:
            [error] = _send(client, query, variables)["errors"]
            assert (error["extensions"]["code"], error["message"]) == ("INVALID_INPUT", said)
    assert _errors_logged(caplog) == []


def test_entries_no_database_can_store_are_invalid_input_each_on_its_own(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    entries = [
        {"make": "Nul\x00", "model": "A"},
        {"make": "Surrogate", "model": "\ud800"},
        {"make": "Body", "model": "B", "bodyType": "\udfff"},
        # Within each field's length, but twice as long in lower case: "İ" is
        # "i" and a combining dot there, past the 300 characters of the key.
        {"make": "İ" * 64, "model": "İ" * 128, "bodyType": "İ" * 64},
        {"make": "Togg", "model": "T10X İstanbul"},
    ]
    with caplog.at_level(logging.INFO):
        added = _send(client, ADD, {"e": entries})
        assert "errors" not in added, added
        payload = added["data"]["addCatalogEntries"]
        [togg] = payload["entries"]
        changes = [
            {"make": "Togg\x00"},
            {"model": "\ud800"},
            {"bodyType": "SUV\x00"},
            {"model": "İ" * 128, "bodyType": "İ" * 64},
        ]
        refused = [
            _send(client, UPDATE, {"id": togg["id"], "c": c})["data"]["updateCatalogEntry"]
            for c in changes
        ]
        kept = gql(client, '{ catalog(make: "togg") { nodes { label } } }')["data"]
    too_long = (
        "The label is {} characters long in lower case (the form duplicates are told by),"
        " more than the 300 it may have."
    )
    assert togg["label"] == "Togg T10X İstanbul"
    assert [(e["index"], e["code"], e["message"]) for e in payload["errors"]] == [
        (0, "INVALID_INPUT", "`make` cannot contain NUL characters."),
        (1, "INVALID_INPUT", SURROGATE.format("model")),
        (2, "INVALID_INPUT", SURROGATE.format("bodyType")),
        (3, "INVALID_INPUT", too_long.format(514)),
    ]
    assert refused == [
        {"entry": None, "errors": [{"code": "INVALID_INPUT", "message": message}]}
        for message in [
            "`make` cannot contain NUL characters.",
            SURROGATE.format("model"),
            "`bodyType` cannot contain NUL characters.",
            too_long.format(4 + 1 + 256 + 1 + 128),
        ]
    ]
    assert kept == {"catalog": {"nodes": [{"label": "Togg T10X İstanbul"}]}}
    assert _errors_logged(caplog) == []
