"""A deadline for request headers (issue 10, finding 3): a connection that sends
nothing, or part of its headers, used to stay open as long as the client
liked. Against the server as deployed, over raw sockets on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests import images
from tests.sockets import (
    SERVER_PY,
    UVICORN_CLI,
    Live,
    connect,
    read_response,
    read_until_closed,
    served,
)

TIMEOUTS = {"HEADER_TIMEOUT_SECONDS": "1", "BODY_TIMEOUT_SECONDS": "10"}


@pytest.fixture(scope="module", params=[SERVER_PY, UVICORN_CLI], ids=["server.py", "uvicorn-cli"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with served(tmp_path_factory.mktemp("live"), request.param, **TIMEOUTS) as server:
        yield server


def test_a_connection_without_whole_headers_is_closed(live: Live) -> None:
    silent = connect(live)
    partial = connect(live)
    partial.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    # slowloris: a header byte now and then never moves the deadline
    trickle = connect(live)
    trickle.sendall(b"GET /health HTTP/1.1\r\nX-A: ")
    sent = 0
    try:
        while sent < 100:
            trickle.sendall(b"a")
            sent += 1
            time.sleep(0.2)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent < 100  # closed after about 1 s, not after 20 s of trickling
    for sock in (silent, partial):
        assert read_until_closed(sock) == b""
        sock.close()
    trickle.close()
    assert httpx.get(f"{live.url}/health").status_code == 200


def test_the_deadline_applies_to_each_request_of_a_kept_alive_connection(live: Live) -> None:
    with connect(live) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 200"), first
        sock.sendall(b"GET /health HTTP/1.1\r\n")  # and no more
        assert read_until_closed(sock) == b""


def test_slow_bodies_and_websockets_outlive_the_header_deadline(live: Live) -> None:
    photo = images.jpeg()
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="slow.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + photo + b"\r\n--b--\r\n"
    )
    head = (
        "POST /upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with connect(live) as sock:
        sock.sendall(head.encode())
        third = len(body) // 3
        for piece in (body[:third], body[third : 2 * third], body[2 * third :]):
            time.sleep(0.7)  # 2.1 s in all: past the header deadline, within the body's
            sock.sendall(piece)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]

    url = live.url.replace("http://", "ws://") + "/graphql"
    with ws_connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        time.sleep(1.5)
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
