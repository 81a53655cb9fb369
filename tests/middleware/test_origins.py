"""An open server answers only its own pages (issue 10, finding 4): cross-site
request forgery and DNS rebinding from a web page its user opens."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from config import Settings
from db.models import FileStatus
from server import create_app
from tests import images
from tests.helpers import record_predictions, upload_jpeg

# A client that reaches the server on a loopback socket, as a browser does.
LOCAL = "http://127.0.0.1:8000"
WS = "ws://127.0.0.1:8000/graphql"  # TestClient's websockets ignore its base_url
EVIL = {"Origin": "http://evil.example"}
KEY = "write-key-0123456789abcdef"


@pytest.fixture
def open_server(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    settings = make_settings(cors_origins="https://app.example")
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        yield client


def _recognized_file(client: TestClient) -> int:
    file_id = int(upload_jpeg(client)["id"])
    record_predictions(client, file_id, [("BMW M3 Coupe 2012", 0.9)])
    return file_id


def test_a_foreign_page_cannot_change_an_open_server(open_server: TestClient) -> None:
    file_id = _recognized_file(open_server)
    plain = {"Content-Type": "text/plain"}
    attempts = [
        open_server.post(
            "/upload/",
            headers=EVIL,
            files={"file": ("evil.jpg", images.jpeg(color=(1, 2, 3)), "image/jpeg")},
        ),
        open_server.post(f"/files/{file_id}/reprocess", headers={**EVIL, **plain}),
        open_server.post("/inference/batch", headers={**EVIL, **plain}, content=f"[{file_id}]"),
        open_server.delete(f"/files/{file_id}", headers=EVIL),
        open_server.delete("/files/", headers=EVIL),
        open_server.post(
            "/graphql",
            headers={**EVIL, "Apollo-Require-Preflight": "true"},
            json={"query": f'mutation {{ deleteFile(id: "{file_id}") {{ deletedId }} }}'},
        ),
        # a page that sends no Origin is judged by its Referer
        open_server.post(
            f"/files/{file_id}/reprocess", headers={"Referer": "http://evil.example/page"}
        ),
        # a sandboxed frame or a file:// page
        open_server.post(f"/files/{file_id}/reprocess", headers={"Origin": "null"}),
    ]
    for answer in attempts:
        assert answer.status_code == 403, answer.text
        assert "no API keys" in answer.json()["detail"]
    with (
        pytest.raises(WebSocketDisconnect),
        open_server.websocket_connect(WS, subprotocols=["graphql-transport-ws"], headers=EVIL),
    ):
        pass  # pragma: no cover
    # nothing changed: one file, still recognized
    [only] = open_server.get("/files/").json()
    assert only["id"] == file_id
    assert only["status"] == FileStatus.DONE.value
    assert only["results"]


def test_a_rebound_host_name_is_refused(open_server: TestClient) -> None:
    file_id = _recognized_file(open_server)
    rebound = {"Host": "rebind.evil.example"}
    for answer in [
        open_server.get("/files/", headers=rebound),
        open_server.delete("/files/", headers=rebound),
        open_server.get(f"/files/{file_id}/image", headers={"Host": "rebind.evil.example:8000"}),
    ]:
        assert answer.status_code == 400, answer.text
        assert "ALLOWED_HOSTS" in answer.json()["detail"]
    with (
        pytest.raises(WebSocketDisconnect),
        open_server.websocket_connect(WS, subprotocols=["graphql-transport-ws"], headers=rebound),
    ):
        pass  # pragma: no cover
    assert [f["id"] for f in open_server.get("/files/").json()] == [file_id]
    for host in ["localhost:8000", "LOCALHOST", "127.0.0.1:8000", "[::1]:8000", "192.0.2.7"]:
        assert open_server.get("/files/", headers={"Host": host}).status_code == 200, host


def test_its_own_pages_loopback_pages_allowed_origins_and_scripts_may_change_it(
    open_server: TestClient,
) -> None:
    file_id = _recognized_file(open_server)
    for headers in [
        {"Origin": LOCAL},  # the page at /
        {"Origin": "http://localhost:5173"},  # a front-end dev server
        {"Origin": "http://127.0.0.1:3000"},
        {"Origin": "http://[::1]:5173"},
        {"Origin": "https://app.example"},  # CORS_ORIGINS
        {"Referer": f"{LOCAL}/"},
        {},  # curl, scripts
    ]:
        answer = open_server.post(f"/files/{file_id}/reprocess", headers=headers)
        assert answer.status_code == 200, (headers, answer.text)
    with open_server.websocket_connect(
        WS, subprotocols=["graphql-transport-ws"], headers={"Origin": LOCAL}
    ) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
    # reads are not forms: a foreign page may send them, though CORS keeps their answers
    assert open_server.get("/files/", headers=EVIL).status_code == 200


def test_allowed_hosts_names_the_servers_public_names(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(allowed_hosts="Cars.Example.com")
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        assert client.get("/files/", headers={"Host": "cars.example.com:8443"}).status_code == 200
        assert client.get("/files/", headers={"Host": "other.example"}).status_code == 400
        own = {"Host": "cars.example.com", "Origin": "https://cars.example.com"}
        assert client.delete("/files/", headers=own).status_code == 200
    with TestClient(create_app(make_settings(allowed_hosts="*")), base_url=LOCAL) as client:
        assert client.get("/files/", headers={"Host": "anything.example"}).status_code == 200
    with pytest.raises(ValidationError, match="ALLOWED_HOSTS takes host names"):
        make_settings(allowed_hosts="https://cars.example.com")


def test_a_keyed_server_checks_host_names_once_allowed_hosts_is_set(
    make_settings: Callable[..., Settings],
) -> None:
    bearer = {"Authorization": f"Bearer {KEY}"}
    keyed = make_settings(api_keys=KEY)
    with TestClient(create_app(keyed), base_url=LOCAL) as client:
        # a browser never adds the key by itself: neither check is needed
        assert client.get("/files/", headers={**bearer, "Host": "any.example"}).status_code == 200
        assert client.delete("/files/", headers={**bearer, **EVIL}).status_code == 200
    named = make_settings(api_keys=KEY, allowed_hosts="cars.example.com")
    with TestClient(create_app(named), base_url=LOCAL) as client:
        assert client.get("/files/", headers={**bearer, "Host": "any.example"}).status_code == 400
        assert client.get("/health", headers={"Host": "cars.example.com"}).status_code == 200
