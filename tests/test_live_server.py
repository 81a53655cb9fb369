"""Against a real uvicorn process on loopback: huge bodies are refused while
they stream, and the server goes on serving."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests import images

ROOT = Path(__file__).parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "UPLOAD_DIR": str(tmp_path / "uploads"), "DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,  # no .env there
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    process.stdout.read().decode() if process.stdout else "no output"
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def _stream_body(
    port: int, path: str, *, chunked: bool, total: int = 2 * 1024**3
) -> tuple[bytes, int]:
    """POST one multipart file part that goes on for `total` bytes, in 1 MB
    pieces, while reading the answer; return the answer and how many bytes were
    sent before it came."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n{framing}\r\n\r\n"
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
