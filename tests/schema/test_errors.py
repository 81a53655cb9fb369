"""A bug reaches the client as "Unexpected error." and the log with its
traceback; a client's own mistakes reach the client in words, and the log only
at debug level."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

import errors
from resolvers import stats
from schema.errors import ErrorCode, UserError
from services import Services
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
