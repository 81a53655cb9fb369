"""API keys, read-only keys, the open server's loopback rule, and CORS, over HTTP
and the GraphQL websocket."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from access import KeyRing, Role, exposure_problem, is_loopback
from config import Settings
from server import create_app
from tests import images

WRITE_KEY = "write-key-0123456789abcdef"
READ_KEY = "read-key-0123456789abcdef"
FILES_QUERY = "{ files(first: 5) { totalCount edges { node { id filename } } } }"
DELETE_FIRST = 'mutation { deleteFile(id: "1") { deletedId errors { code } } }'
ROOT = Path(__file__).parents[1]


@pytest.fixture
def keyed(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    settings = make_settings(api_keys=(WRITE_KEY,), read_api_keys=(READ_KEY,))
    with TestClient(create_app(settings)) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def upload(client: TestClient, key: str) -> Any:
    return client.post(
        "/upload/",
        files={"file": ("car.jpg", images.jpeg(), "image/jpeg")},
        headers=bearer(key),
    )


def test_every_data_route_needs_a_key(keyed: TestClient) -> None:
    for method, path in [
        ("GET", "/files/"),
        ("GET", "/files/1"),
        ("GET", "/files/1/image"),
        ("DELETE", "/files/"),
        ("POST", "/upload/"),
        ("POST", "/inference/1"),
        ("GET", "/visualization/stats"),
        ("GET", "/visualization/export/csv"),
        ("GET", "/visualization/report"),
        ("GET", f"/graphql?query={FILES_QUERY}"),
        ("POST", "/graphql"),
    ]:
        answer = keyed.request(method, path)
        assert answer.status_code == 401, (method, path)
        assert "API key is needed" in answer.json()["detail"]
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_health_and_the_data_free_pages_need_no_key(keyed: TestClient) -> None:
    assert keyed.get("/health").status_code == 200
    for path in ("/docs", "/redoc", "/openapi.json", "/static/docs/docs.css"):
        assert keyed.get(path).status_code == 200, path
    page = keyed.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_a_wrong_key_is_refused_and_logged(
    keyed: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cars"):
        answer = keyed.get("/files/", headers=bearer("not-the-key-0123456789"))
    assert answer.status_code == 401
    assert answer.json() == {"detail": "The API key is not valid."}
    assert "invalid API key" in caplog.text
    assert "not-the-key" not in caplog.text  # the key itself is never logged
    # public routes ignore keys, right or wrong
    assert keyed.get("/health", headers={"X-API-Key": "wrong-wrong-wrong-wrong"}).status_code == 200


def test_a_write_key_does_everything_in_either_header(keyed: TestClient) -> None:
    assert upload(keyed, WRITE_KEY).status_code == 200
    assert len(keyed.get("/files/", headers={"X-API-Key": WRITE_KEY}).json()) == 1
    answer = keyed.post("/graphql", json={"query": DELETE_FIRST}, headers=bearer(WRITE_KEY))
    assert answer.json()["data"]["deleteFile"]["deletedId"]
    assert keyed.get("/files/", headers={"X-API-Key": WRITE_KEY}).json() == []


def test_a_read_key_reads_but_changes_nothing(keyed: TestClient) -> None:
    file_id = upload(keyed, WRITE_KEY).json()["files"][0]["id"]
    read = bearer(READ_KEY)
    assert keyed.get("/files/", headers=read).status_code == 200
    assert keyed.get(f"/files/{file_id}/image", headers=read).status_code == 200
    assert keyed.get("/visualization/stats", headers=read).status_code == 200
    for method, path in [
        ("DELETE", "/files/"),
        ("DELETE", f"/files/{file_id}"),
        ("POST", f"/inference/{file_id}"),
        ("POST", f"/files/{file_id}/reprocess"),
    ]:
        answer = keyed.request(method, path, headers=read)
        assert answer.status_code == 403, (method, path)
        assert "may read but not change" in answer.json()["detail"]
    assert upload(keyed, READ_KEY).status_code == 403

    queried = keyed.post("/graphql", json={"query": FILES_QUERY}, headers=read).json()
    assert queried["data"]["files"]["totalCount"] == 1
    refused = keyed.post("/graphql", json={"query": DELETE_FIRST}, headers=read).json()
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # still there
    assert keyed.get(f"/files/{file_id}", headers=read).status_code == 200


def _ws_init(
    client: TestClient, payload: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> Any:
    ws = client.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"], headers=dict(headers or {})
    )
    session = ws.__enter__()
    session.send_json({"type": "connection_init", "payload": payload or {}})
    return ws, session


def _ws_query(session: Any, query: str) -> dict[str, Any]:
    session.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
    message: dict[str, Any] = session.receive_json()
    assert message["type"] in ("next", "error"), message
    return message


def test_the_websocket_takes_a_key_in_its_headers_or_in_connection_init(
    keyed: TestClient,
) -> None:
    for payload, headers in [
        (None, bearer(WRITE_KEY)),
        ({"apiKey": READ_KEY}, None),
        ({"Authorization": f"Bearer {WRITE_KEY}"}, None),
    ]:
        ws, session = _ws_init(keyed, payload, headers=headers)
        assert session.receive_json()["type"] == "connection_ack"
        answer = _ws_query(session, FILES_QUERY)
        assert answer["payload"]["data"]["files"]["totalCount"] == 0
        ws.__exit__(None, None, None)


def test_the_websocket_refuses_no_key_a_wrong_key_and_a_read_keys_mutation(
    keyed: TestClient,
) -> None:
    for payload in (None, {"apiKey": "wrong-wrong-wrong-wrong"}):
        ws, session = _ws_init(keyed, payload)
        with pytest.raises(WebSocketDisconnect) as closed:
            session.receive_json()
        assert closed.value.code == 4403
        ws.__exit__(None, None, None)
    # a wrong key in the headers is refused at the handshake
    with (
        pytest.raises(WebSocketDisconnect),
        keyed.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"], headers=bearer("wrong" * 5)
        ),
    ):
        pass  # pragma: no cover

    upload(keyed, WRITE_KEY)
    ws, session = _ws_init(keyed, {"apiKey": READ_KEY})
    assert session.receive_json()["type"] == "connection_ack"
    answer = _ws_query(session, DELETE_FIRST)
    assert answer["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ws.__exit__(None, None, None)
    assert len(keyed.get("/files/", headers=bearer(READ_KEY)).json()) == 1


def test_keys_are_compared_by_role() -> None:
    ring = KeyRing((WRITE_KEY,), (READ_KEY,))
    assert ring.role_of(WRITE_KEY) is Role.WRITE
    assert ring.role_of(READ_KEY) is Role.READ
    assert ring.role_of(WRITE_KEY[:-1]) is None
    assert ring.role_of(WRITE_KEY + "x") is None
    assert ring.role_of("") is None
    assert ring.role_of(None) is None
    assert KeyRing((), ()).open


def test_settings_refuse_weak_keys_shared_keys_and_wildcard_origins(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="shorter than 16") as weak:
        make_settings(api_keys="secret")
    assert "secret" not in str(weak.value).replace("secrets", "")
    with pytest.raises(ValidationError, match="both API_KEYS and READ_API_KEYS"):
        make_settings(api_keys=WRITE_KEY, read_api_keys=WRITE_KEY)
    with pytest.raises(ValidationError, match="no wildcard"):
        make_settings(cors_origins="*")
    settings = make_settings(
        api_keys=f"{WRITE_KEY}, {WRITE_KEY}x", cors_origins="https://a.example/"
    )
    assert settings.api_keys == (WRITE_KEY, WRITE_KEY + "x")
    assert settings.cors_origins == ("https://a.example",)
    assert WRITE_KEY not in repr(settings)


def test_an_open_server_answers_loopback_only(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as local:
        assert local.get("/files/").status_code == 200
    # the same app, reached on a network address of the machine
    with TestClient(create_app(settings), base_url="http://192.0.2.10:8000") as remote:
        answer = remote.get("/files/")
        assert answer.status_code == 403
        assert "only answers on loopback" in answer.json()["detail"]
        with (
            pytest.raises(WebSocketDisconnect),
            remote.websocket_connect(
                "ws://192.0.2.10:8000/graphql", subprotocols=["graphql-transport-ws"]
            ),
        ):
            pass  # pragma: no cover
    opened = make_settings(allow_open=True)
    with TestClient(create_app(opened), base_url="http://192.0.2.10:8000") as remote:
        assert remote.get("/files/").status_code == 200


def test_an_open_server_says_so_at_start_up(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cars"), TestClient(create_app(make_settings())):
        pass
    assert "THE SERVER IS OPEN" in caplog.text
    caplog.clear()
    keyed = make_settings(api_keys=WRITE_KEY)
    with caplog.at_level(logging.WARNING, logger="cars"), TestClient(create_app(keyed)):
        pass
    assert "THE SERVER IS OPEN" not in caplog.text


def test_server_py_refuses_to_bind_an_open_server_beyond_loopback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "UPLOAD_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    refused = subprocess.run(
        [sys.executable, str(ROOT / "server.py"), "--host", "0.0.0.0", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "Refusing to serve on 0.0.0.0" in refused.stderr
    assert "ALLOW_OPEN=1" in refused.stderr


def test_which_addresses_are_loopback(make_settings: Callable[..., Settings]) -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("::")
    assert not is_loopback("192.0.2.1")
    assert exposure_problem(make_settings(), "127.0.0.1") is None
    assert exposure_problem(make_settings(), "0.0.0.0") is not None
    assert exposure_problem(make_settings(allow_open=True), "0.0.0.0") is None
    assert exposure_problem(make_settings(read_api_keys=READ_KEY), "0.0.0.0") is None


def test_cors_answers_only_the_configured_origins(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(cors_origins="https://app.example", api_keys=WRITE_KEY)
    with TestClient(create_app(settings)) as client:
        preflight = client.options(
            "/graphql",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200  # no key needed for a preflight
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in preflight.headers
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        answer = client.get(
            "/files/", headers={"Origin": "https://app.example", **bearer(WRITE_KEY)}
        )
        assert answer.headers["access-control-allow-origin"] == "https://app.example"

        stranger = client.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in stranger.headers
        answer = client.get(
            "/files/", headers={"Origin": "https://evil.example", **bearer(WRITE_KEY)}
        )
        assert "access-control-allow-origin" not in answer.headers
