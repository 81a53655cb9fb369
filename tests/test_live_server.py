"""Against a real uvicorn process on loopback: huge bodies are refused while
they stream, and the server goes on serving."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from testkit.servers import server
from tests import images


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[str]:
    with server(tmp_path, DATABASE_URL=database_url, RECOGNIZER="huggingface") as live:
        yield live.url


def _stream_body(
    port: int, path: str, *, chunked: bool, total: int = 2 * 1024**3
) -> tuple[bytes, int]:
    """POST one multipart file part that goes on for `total` bytes, in 1 MB
    pieces, while reading the answer; return the answer and how many bytes were
    sent before it came."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n{framing}\r\n\r\n"
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n\xff\xd8\xff'
    piece = b"\0" * (1024 * 1024)

    def framed(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data

    answer = bytearray()
    answered = threading.Event()
    with socket.create_connection(("127.0.0.1", port)) as sock:

        def read() -> None:
            while chunk := sock.recv(65536):
                answer.extend(chunk)
                if b"\r\n\r\n" in answer:
                    break
            answered.set()

        threading.Thread(target=read, daemon=True).start()
        sock.sendall(head.encode() + framed(part))
        sent = len(part)
        try:
            while sent < total and not answered.is_set():
                sock.sendall(framed(piece))
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection after answering
        answered.wait(timeout=30)
    return bytes(answer), sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_2gb_upload_is_refused_as_it_streams(live_server: str, chunked: bool) -> None:
    port = int(live_server.rsplit(":", 1)[1])
    answer, sent = _stream_body(port, "/upload/", chunked=chunked)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"application/json" in answer
    # refused at the 10 MB limit (or at once, when the length was declared),
    # long before 2 GB arrived
    assert sent < 64 * 1024 * 1024
    # and the server goes on, with nothing stored
    assert httpx.get(f"{live_server}/files/").json() == []
    ok = httpx.post(
        f"{live_server}/upload/", files={"file": ("car.jpg", images.jpeg(), "image/jpeg")}
    )
    assert ok.status_code == 200
    assert [f["filename"] for f in httpx.get(f"{live_server}/files/").json()] == ["car.jpg"]
