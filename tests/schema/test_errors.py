"""A bug reaches the client as "Unexpected error." and the log with its
traceback; a client's own mistakes reach the client in words, and the log only
at debug level."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

import errors
from resolvers import stats
from schema.errors import ErrorCode, UserError
from services import Services
from tests.conftest import PREFLIGHT
from tests.helpers import gql


def test_a_bug_is_masked_for_the_client_and_logged_with_its_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_svc: Services) -> None:  # a fault injected where a bug would be
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(stats, "collection_stats", broken)
    with caplog.at_level(logging.DEBUG):
        answer = gql(client, "{ stats { totalFiles } }")
    assert answer["errors"][0]["message"] == "Unexpected error."
    assert "secret" not in str(answer)
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "secret internal detail" in record.getMessage()
    assert record.exc_info is not None


def test_client_mistakes_are_not_logged_as_errors(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="cars"):
        typo = gql(client, "{ fils { totalCount } }")
        missing = gql(client, '{ file(id: "12345") { id } }')
        bad_id = gql(client, 'mutation { deleteFile(id: "x") { errors { code } } }')
    assert "Cannot query field 'fils'" in typo["errors"][0]["message"]
    assert missing["data"]["file"] is None
    assert bad_id["data"]["deleteFile"]["errors"][0]["code"] == "NOT_FOUND"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("Cannot query field 'fils'" in r.getMessage() for r in caplog.records)


UPLOAD = "mutation($f: Upload!) { uploadFiles(files: [$f]) { errors { message } } }"


def _multipart(client: TestClient, operations: str, files_map: str) -> Any:
    return client.post(
        "/graphql",
        data={"operations": operations, "map": files_map},
        files={"0": ("car.jpg", b"\xff\xd8\xff", "image/jpeg")},
        headers=PREFLIGHT,
    )


@pytest.mark.parametrize(
    ("files_map", "said"),
    [
        ('{"0": ["variables.f.0.__class__"]}', "leads to no object or list"),
        ('{"0": ["variables.f.0"]}', "leads to no object or list"),
        ("[1, 2]", "`map` must be a JSON object"),
        ('{"0": "variables.f"}', "must be a list of paths"),
        ('{"0": [5]}', "must be a list of paths"),
        ('{"1": ["variables.f"]}', "which the request does not hold"),
        ('{"0": ["variables.g.' + "9" * 5000 + '"]}', "which `operations` lacks"),
        ('{"0": ["variables.l.' + "9" * 5000 + '"]}', "indexes a list with"),
        ('{"0": ["variables.l.7"]}', "indexes past the end"),
    ],
)
def test_a_malformed_multipart_map_is_the_clients_mistake(
    client: TestClient, caplog: pytest.LogCaptureFixture, files_map: str, said: str
) -> None:
    operations = json.dumps({"query": UPLOAD, "variables": {"f": None, "l": [None]}})
    with caplog.at_level(logging.DEBUG):
        answer = _multipart(client, operations, files_map)
    assert answer.status_code == 400, answer.text
    assert said in answer.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("operations", ["[1, 2]", '{"query": 5}', "5", '"x"', "null", "[" * 5000])
def test_malformed_operations_are_the_clients_mistake(
    client: TestClient, caplog: pytest.LogCaptureFixture, operations: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        as_json = client.post(
            "/graphql", content=operations, headers={"Content-Type": "application/json"}
        )
        as_multipart = _multipart(client, operations, "{}")
    for answer in (as_json, as_multipart):
        assert answer.status_code == 400, answer.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_subscription_over_http_is_refused_in_words(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    subscription = "subscription { fileEvents { kind } }"
    with caplog.at_level(logging.DEBUG):
        posted = client.post("/graphql", json={"query": subscription})
        got = client.get("/graphql", params={"query": subscription})
    assert posted.status_code == 400
    assert posted.text == "subscriptions are not allowed when using POST"
    assert got.status_code == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_query_over_the_legacy_graphql_ws_protocol_is_refused_in_words(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG),
        client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"type": "start", "id": "1", "payload": {"query": "{ stats { totalFiles } }"}})
        answer = ws.receive_json()
    assert answer["type"] == "error", answer
    assert answer["payload"]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"
    assert "graphql-transport-ws" in answer["payload"]["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _every_app_error(kind: type[errors.AppError] = errors.AppError) -> list[type[errors.AppError]]:
    found = []
    for sub in kind.__subclasses__():
        found += [sub, *_every_app_error(sub)]
    return found


def test_every_app_error_has_an_error_code() -> None:
    """A new error in errors.py that a resolver raises must reach the client as a
    typed code, never as "Unexpected error." because its code is missing."""
    kinds = _every_app_error()
    assert errors.Unavailable in kinds
    assert errors.FellBehind in kinds
    missing = [k.__name__ for k in kinds if k.code not in {c.value for c in ErrorCode}]
    assert not missing, f"add these to schema/errors.ErrorCode: {missing}"
    # and every code stands for an error that exists
    assert {c.value for c in ErrorCode} == {k.code for k in kinds}
    for kind in kinds:
        user_error = UserError.of(kind("words for a person"), index=0, input="7")
        assert user_error.code.value == kind.code
