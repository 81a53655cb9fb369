"""`files(search:)` is bounded and literal (issue 10, finding 9): a pattern too
long for the database used to be reported as a database outage."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from resolvers.files import MAX_SEARCH_LENGTH
from tests.helpers import upload_jpeg

QUERY = "query($s: String, $m: String) { files(search: $s, make: $m) { totalCount nodes { filename } } }"
COUNT = "query($s: String) { stats { totalFiles } files(first: 0, search: $s) { totalCount } }"


def _search(client: TestClient, query: str = QUERY, **variables: object) -> dict[str, Any]:
    answer = client.post("/graphql", json={"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_a_search_too_long_is_the_clients_error(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    upload_jpeg(client, "aaa.jpg")  # a row to match against: SQLite checks the pattern then
    caplog.set_level(logging.DEBUG)
    for query in (QUERY, COUNT):
        result = _search(client, query, s="a" * 900_000)
        [error] = result["errors"]
        assert error["extensions"]["code"] == "INVALID_INPUT", error
        assert error["message"] == (
            f"`search` is at most {MAX_SEARCH_LENGTH} characters long; got 900,000."
        )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # the longest allowed search is a search like any other
    longest = _search(client, s="a" * MAX_SEARCH_LENGTH)
    assert longest == {"data": {"files": {"totalCount": 0, "nodes": []}}}
    assert _search(client, s="A")["data"] == {
        "files": {"totalCount": 1, "nodes": [{"filename": "aaa.jpg"}]}
    }


def test_search_wildcards_are_literal_and_nul_is_refused(client: TestClient) -> None:
    for name in ["50%_off.jpg", "500-off.jpg"]:
        upload_jpeg(client, name)

    def names(search: str) -> list[str]:
        result = _search(client, s=search)
        assert "errors" not in result, result
        nodes = result["data"]["files"]["nodes"]
        return sorted(node["filename"] for node in nodes)

    assert names("%") == ["50%_off.jpg"]
    assert names("0_") == []  # as a wildcard it would match both
    assert names("%_") == ["50%_off.jpg"]
    assert names("%_" * 100) == []  # at the limit, and literal: no pattern blow-up
    assert names("\\") == []
    for variables in ({"s": "a\x00b"}, {"m": "BMW\x00"}):
        [error] = _search(client, **variables)["errors"]
        assert error["extensions"]["code"] == "INVALID_INPUT"
