"""GET and POST /catalog."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

from config import Settings
from db.catalog import catalog_version
from server import create_app
from tests.helpers import portal_run, services


def test_post_then_get_catalog(client: TestClient) -> None:
    response = client.post(
        "/catalog",
        json=[
            {"make": "Polestar", "model": "2", "body_type": "Sedan", "year_from": 2021},
            {"make": "Polestar", "model": "2", "body_type": "Sedan", "year_from": 2021},
            {"make": "", "model": "x"},
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["label"] for e in body["added"]] == ["Polestar 2 Sedan 2021+"]
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (1, "DUPLICATE"),
        (2, "EMPTY_NAME"),
    ]

    listed = client.get("/catalog", params={"make": "polestar"}).json()
    assert listed["total"] == 1
    assert listed["next"] is None
    assert listed["entries"][0]["year_from"] == 2021
    assert listed["entries"][0]["year_to"] is None
    assert listed["entries"][0]["enabled"] is True

    first = client.get("/catalog", params={"limit": 2}).json()
    assert len(first["entries"]) == 2
    second = client.get("/catalog", params={"limit": 2, "after": first["next"]}).json()
    assert second["entries"][0]["id"] > first["entries"][1]["id"]


def test_post_catalog_refuses_what_is_not_a_list_of_entries(client: TestClient) -> None:
    for body in (b"{}", b"[]", b"nonsense", b'[{"make": "A", "model": "B", "year_from": true}]'):
        response = client.post(
            "/catalog", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, body
        assert "detail" in response.json()
    assert client.get("/catalog", params={"limit": "many"}).status_code == 400


# Parallel clients, and replicas (issue 17, item 6): the same entries added at
# the same moment through two app instances on one database. Each label is
# stored once; everyone else is told DUPLICATE for it, and their other entries
# are stored all the same.

ADD_GRAPHQL = (
    "mutation($e: [CatalogEntryInput!]!) { addCatalogEntries(entries: $e) {"
    " entries { label } errors { code index } } }"
)
CLIENTS = 8


def _add(client: TestClient, entries: list[dict[str, Any]], *, graphql: bool) -> list[str]:
    """Each entry's outcome, in order: "added" or the error code."""
    if graphql:
        wanted = [{"make": e["make"], "model": e["model"]} for e in entries]
        response = client.post("/graphql", json={"query": ADD_GRAPHQL, "variables": {"e": wanted}})
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        payload = response.json()["data"]["addCatalogEntries"]
        refused = {e["index"]: e["code"] for e in payload["errors"]}
    else:
        response = client.post("/catalog", json=entries)
        assert response.status_code == 200, response.text
        refused = {e["index"]: e["code"] for e in response.json()["errors"]}
    return [refused.get(i, "added") for i in range(len(entries))]


def _version(client: TestClient) -> int:
    async def read() -> int:
        async with services(client).session() as session:
            return await catalog_version(session)

    version: int = portal_run(client, read)
    return version


def test_parallel_clients_on_two_replicas_store_each_entry_once(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    shared = [{"make": "Racer", "model": f"Shared {i}"} for i in range(CLIENTS)]
    # What a client sees: a 500 is an answer, not an exception in the test.
    replicas = [TestClient(create_app(settings), raise_server_exceptions=False) for _ in "ab"]
    with replicas[0] as one, replicas[1] as two:
        before = _version(one)
        start = threading.Barrier(CLIENTS)

        def add(n: int) -> list[str]:
            # Each its own order (rows locked in different orders could
            # deadlock), and half of them one entry no other client adds.
            batch = shared[n:] + shared[:n]
            if n % 2:
                batch.append({"make": "Racer", "model": f"Own {n}"})
            start.wait()
            return _add((one, two)[n % 2], batch, graphql=n % 4 >= 2)

        with caplog.at_level(logging.INFO), ThreadPoolExecutor(CLIENTS) as pool:
            outcomes = list(pool.map(add, range(CLIENTS)))
        after = _version(two)
        listed = one.get("/catalog", params={"make": "Racer"}).json()

    for n, outcome in enumerate(outcomes):
        assert set(outcome[:CLIENTS]) <= {"added", "DUPLICATE"}, outcome
        assert outcome[CLIENTS:] == (["added"] if n % 2 else [])
    for i in range(CLIENTS):  # shared[i] is at index (i - n) % CLIENTS for client n
        kept = [o[(i - n) % CLIENTS] for n, o in enumerate(outcomes)]
        assert kept.count("added") == 1, kept
    assert listed["total"] == CLIENTS + CLIENTS // 2
    # One bump per request that stored something; none for one that stored nothing.
    assert after - before == sum("added" in o for o in outcomes)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# Inputs Python or a database cannot take (issue 17, item 7): each is the
# client's mistake, answered 400 in words, the same on SQLite and PostgreSQL,
# and never logged as an error.

HUGE = "9" * 5000


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_limits_that_are_not_small_whole_numbers_are_400(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        # "²" and "٣" are digits to str.isdigit(), not to int()
        for limit in ("²", "٣", HUGE, "101", "-1", "1e2", " 5", ""):
            answer = client.get("/catalog", params={"limit": limit})
            assert answer.status_code == 400, (limit[:10], answer.text)
            assert answer.json() == {"detail": "`limit` must be a whole number from 0 to 100."}
        padded = client.get("/catalog", params={"limit": "0" * 5000 + "5"})
    assert len(padded.json()["entries"]) == 5
    assert _errors_logged(caplog) == []


def test_filters_no_database_could_match_are_400(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        said = {
            name: client.get("/catalog", params={name: value}).json()
            for name, value in [("search", "a\x00b"), ("make", "BMW\x00")]
        }
        long_search = client.get("/catalog", params={"search": "x" * 301})
        long_make = client.get("/catalog", params={"make": "x" * 65})
        longest = client.get("/catalog", params={"search": "x" * 300, "make": "x" * 64})
    assert said == {
        "search": {"detail": "`search` cannot contain NUL characters."},
        "make": {"detail": "`make` cannot contain NUL characters."},
    }
    assert long_search.status_code == 400
    assert long_search.json()["detail"] == "`search` is at most 300 characters long; got 301."
    assert long_make.status_code == 400
    assert longest.json()["total"] == 0
    assert _errors_logged(caplog) == []


def _post(client: TestClient, body: bytes) -> Any:
    return client.post("/catalog", content=body, headers={"content-type": "application/json"})


def test_json_python_cannot_hold_is_400(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        deep = _post(client, b"[" * 50_000 + b"]" * 50_000)
        digits = _post(
            client, b'[{"make": "A", "model": "B", "year_from": ' + HUGE.encode() + b"}]"
        )
    assert (deep.status_code, deep.json()) == (
        400,
        {"detail": "The request's JSON is nested too deeply."},
    )
    assert (digits.status_code, digits.json()) == (
        400,
        {"detail": "A number in the request's JSON has more digits than any value takes."},
    )
    assert _errors_logged(caplog) == []


def test_entries_no_database_can_store_are_refused_each_on_its_own(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    entries: list[dict[str, Any]] = [
        {"make": "Nul\x00", "model": "A"},
        {"make": "Surrogate", "model": "\ud800"},  # JSON's "\ud800": no character
        {"make": "Body", "model": "B", "body_type": "\udfff"},
        # Within each field's length, but twice as long in lower case: "İ" is
        # "i" and a combining dot there, past the 300 characters of the key.
        {"make": "İ" * 64, "model": "İ" * 128, "body_type": "İ" * 64},
        {"make": "Togg", "model": "T10X İstanbul"},
    ]
    with caplog.at_level(logging.INFO):
        # ensure_ascii: the body carries the lone surrogates as JSON escapes
        answer = _post(client, json.dumps(entries).encode())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [e["label"] for e in body["added"]] == ["Togg T10X İstanbul"]
    assert [(e["index"], e["code"], e["detail"]) for e in body["errors"]] == [
        (0, "INVALID_INPUT", "`make` cannot contain NUL characters."),
        (1, "INVALID_INPUT", _SURROGATE.format("model")),
        (2, "INVALID_INPUT", _SURROGATE.format("bodyType")),
        (
            3,
            "INVALID_INPUT",
            "The label is 514 characters long in lower case (the form duplicates are told"
            " by), more than the 300 it may have.",
        ),
    ]
    found = client.get("/catalog", params={"search": "İstanbul"}).json()
    assert [e["label"] for e in found["entries"]] == ["Togg T10X İstanbul"]
    assert _errors_logged(caplog) == []


_SURROGATE = "`{}` holds a lone surrogate (such as \\ud800), which is not a character."
