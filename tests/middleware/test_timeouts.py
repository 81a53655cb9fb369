"""A deadline on each wait for more of a request body (issue 10, finding 3): a
body that stalls mid-way used to hold its connection, and what the server had
buffered of it, until the client finished. Over raw sockets, against the
server as deployed on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests import images
from tests.sockets import Live, chunk, connect, read_until_closed, served


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with served(tmp_path_factory.mktemp("live"), BODY_TIMEOUT_SECONDS="1") as server:
        yield server


def _assert_timed_out(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"connection: close" in head.lower()
    assert json.loads(body) == {"detail": "The request body stopped arriving for 1 seconds."}


def test_a_rest_upload_that_stalls_is_answered_408_and_closed(live: Live) -> None:
    with connect(live) as sock:
        sock.sendall(
            b"POST /upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
            + images.jpeg()[:100]
        )
        _assert_timed_out(read_until_closed(sock))
    assert httpx.get(f"{live.url}/files/").json() == []


def test_a_graphql_upload_that_stalls_is_answered_408_and_closed(live: Live) -> None:
    operations = json.dumps(
        {
            "query": "mutation($f: Upload!) { uploadFile(file: $f) { errors { code } } }",
            "variables": {"f": None},
        }
    ).encode()
    with connect(live) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Apollo-Require-Preflight: true\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
            + chunk(b'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n')
            + chunk(operations + b"\r\n--b\r\n")
        )
        _assert_timed_out(read_until_closed(sock))
    assert httpx.get(f"{live.url}/health").status_code == 200


def _partial_files(root: Path) -> list[Path]:
    """What the server holds in tmp/ besides each process's lock file."""
    return [p for p in (root / "uploads" / "tmp").rglob("*") if p.is_file() and p.name != "lock"]


def test_a_rest_upload_cut_off_mid_file_leaves_no_partial_file(tmp_path: Path) -> None:
    """REST uploads are written into tmp/ as they stream in: a body that stalls,
    or a client that leaves, after a few megabytes were written there, leaves
    nothing behind."""
    head = (
        b"POST /upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9000000\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    )
    written = images.jpeg()[:100] + bytes(3 * 1024 * 1024)  # past the first batches
    with served(tmp_path, BODY_TIMEOUT_SECONDS="1") as live:
        with connect(live) as sock:
            sock.sendall(head + written)
            _assert_timed_out(read_until_closed(sock))
        assert _partial_files(tmp_path) == []
        with connect(live) as sock:
            sock.sendall(head + written)
            time.sleep(0.5)  # the server is writing what it received
        deadline = time.monotonic() + 10
        while _partial_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _partial_files(tmp_path) == []
        assert httpx.get(f"{live.url}/files/").json() == []
