"""The server as deployed, in its own process on loopback, and raw sockets to
talk to it the way a slow or hostile client does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).parents[1]
# The two ways to start it that the README gives.
SERVER_PY = ("server.py",)
UVICORN_CLI = ("-m", "uvicorn", "server:app", "--http", "http_protocol:HttpProtocol")
# Long enough for any answer the tests wait for; a test that hits it failed.
PATIENCE = 20.0


@dataclass(frozen=True)
class Live:
    url: str
    port: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(data_dir: Path, command: Sequence[str] = SERVER_PY, **env: str) -> Iterator[Live]:
    """The server started with `command` (relative to the repository), with
    UPLOAD_DIR in `data_dir` and `env` as its settings."""
    port = _free_port()
    args = [sys.executable, *(str(ROOT / a) if a.endswith(".py") else a for a in command)]
    process = subprocess.Popen(
        [*args, "--port", str(port)],
        cwd=data_dir,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "UPLOAD_DIR": str(data_dir / "uploads"),
            "RECOGNIZER": "huggingface",  # nothing here recognizes
            "LOG_LEVEL": "warning",
            **env,
        },
    )
    live = Live(f"http://127.0.0.1:{port}", port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{live.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start (exit code {process.poll()})")
            time.sleep(0.1)
        yield live
    finally:
        process.terminate()
        process.wait(timeout=30)


def connect(live: Live) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", live.port))
    sock.settimeout(PATIENCE)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection. Raises
    TimeoutError when it keeps the connection open for PATIENCE seconds."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    return answer


def chunk(data: bytes) -> bytes:
    """One piece of a `Transfer-Encoding: chunked` body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length, leaving the connection open."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body
