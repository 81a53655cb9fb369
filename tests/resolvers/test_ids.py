"""Ids and cursors of any length (issue 10, finding 5): Python refuses to turn
more than 4,300 digits into an int, which used to surface as a 500 or
"Unexpected error". What cannot exist is 404 (or null, or a NOT_FOUND user
error); a malformed cursor is INVALID_INPUT."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.helpers import upload_jpeg

HUGE = "9" * 5000
PADDED_ONE = "0" * 5000 + "1"  # leading zeros do not make a number large


def _graphql(client: TestClient, query: str, **variables: object) -> dict[str, Any]:
    answer = client.post("/graphql", json={"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_rest_routes_answer_404_for_ids_of_thousands_of_digits(
    client: TestClient, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    kept = upload_jpeg(client)["id"]
    for method, path in [
        ("GET", f"/files/{HUGE}"),
        ("DELETE", f"/files/{HUGE}"),
        ("GET", f"/files/{HUGE}/image"),
        ("GET", f"/files/{HUGE}/thumbnail"),
        ("POST", f"/files/{HUGE}/reprocess"),
        ("POST", f"/inference/{HUGE}"),
    ]:
        answer = client.request(method, path)
        assert answer.status_code == 404, (method, path[:20], answer.text)
        assert answer.json()["detail"].startswith("No file with id '9999")
        assert len(answer.json()["detail"]) < 100  # the id is not echoed whole
    assert client.get(f"/files/{PADDED_ONE}").json()["id"] == kept
    # batch bodies: a number JSON itself cannot convert is a malformed body
    answer = client.post("/inference/batch", content=f"[{HUGE}]")
    assert answer.status_code == 400
    assert "JSON list of file ids" in answer.json()["detail"]
    assert [f["id"] for f in client.get("/files/").json()] == [kept]
    assert "Traceback" not in no_tracebacks.text
    assert not [r for r in no_tracebacks.records if r.levelno >= logging.ERROR]


def test_graphql_ids_and_cursors_of_thousands_of_digits_are_client_errors(
    client: TestClient, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    kept = upload_jpeg(client)["id"]
    global_huge = base64.b64encode(f"File:{HUGE}".encode()).decode()
    for file_id in [HUGE, global_huge]:
        found = _graphql(client, "query($id: ID!) { file(id: $id) { id } }", id=file_id)
        assert found == {"data": {"file": None}}
    found = _graphql(client, "query($id: ID!) { node(id: $id) { id } }", id=global_huge)
    assert found == {"data": {"node": None}}
    found = _graphql(client, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=[global_huge])
    assert found == {"data": {"nodes": [None]}}
    padded = _graphql(client, "query($id: ID!) { file(id: $id) { databaseId } }", id=PADDED_ONE)
    assert padded == {"data": {"file": {"databaseId": kept}}}

    cursor = base64.b64encode(f"cursor:{HUGE}".encode()).decode()
    paged = _graphql(client, "query($c: String) { files(after: $c) { totalCount } }", c=cursor)
    [error] = paged["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert "is not a cursor this API gave out" in error["message"]
    assert len(error["message"]) < 120

    for mutation, field in [
        ("mutation($ids: [ID!]!) { deleteFiles(ids: $ids) { errors { code } } }", "deleteFiles"),
        ("mutation($ids: [ID!]!) { inferFiles(ids: $ids) { errors { code } } }", "inferFiles"),
    ]:
        result = _graphql(client, mutation, ids=[HUGE])
        assert result["data"] == {field: {"errors": [{"code": "NOT_FOUND"}]}}, result
    for mutation, field in [
        ("mutation($id: ID!) { deleteFile(id: $id) { errors { code } } }", "deleteFile"),
        ("mutation($id: ID!) { reprocessFile(id: $id) { errors { code } } }", "reprocessFile"),
        ("mutation($id: ID!) { inferFile(id: $id) { errors { code } } }", "inferFile"),
    ]:
        result = _graphql(client, mutation, id=HUGE)
        assert result["data"] == {field: {"errors": [{"code": "NOT_FOUND"}]}}, result
    assert "Traceback" not in no_tracebacks.text
    assert not [r for r in no_tracebacks.records if r.levelno >= logging.ERROR]


def test_a_subscription_to_an_id_of_thousands_of_digits_is_refused(
    client: TestClient, no_tracebacks: pytest.LogCaptureFixture
) -> None:
    query = "subscription($ids: [ID!]) { fileEvents(ids: $ids) { kind } }"
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        payload = {"query": query, "variables": {"ids": [HUGE]}}
        ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
        answer = ws.receive_json()
    [error] = answer["payload"]["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["message"].startswith("No file with id '9999")
    assert "Traceback" not in no_tracebacks.text
