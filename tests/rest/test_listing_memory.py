"""GET /files/ of a large collection streams: the app's memory stays flat, and
the answer is one well-formed JSON array of every file."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from config import Settings
from server import create_app
from testkit.collection import grow
from tests.helpers import portal_run, services

SIZES = (20_000, 60_000)


def test_the_listing_streams_in_memory_that_does_not_grow_with_the_collection(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'big.db'}"
    grow(database_url, to=SIZES[0], have=0)  # rows written straight into the database
    app = create_app(make_settings(database_url=database_url, recognizer="huggingface"))
    peaks = []
    with TestClient(app) as client:
        client.get("/files/1")  # warm-up: imports, connections
        have = SIZES[0]
        for size in SIZES:
            if size > have:
                grow(database_url, to=size, have=have)
                have = size
            received, peak = _listing(client, app)
            assert received["status"] == 200
            assert received["files"] == size
            assert received["head"].startswith(b'[{"id":1,"filename":"car-1.jpg",')
            # the array closes after the last file, as GET /files/{id} shows it
            last = json.dumps(client.get(f"/files/{size}").json(), separators=(",", ":"))
            assert received["tail"].endswith(last[-150:].encode() + b"]")
            print(
                f"{size} files: {received['bytes'] / 1e6:.1f} MB of JSON, peak {peak / 1e6:.1f} MB"
            )
            peaks.append((size, received["bytes"], peak))
        # Listed again, every file is served as kept in the database (db/listing.py):
        # the same bytes, in no more memory.
        again, warm_peak = _listing(client, app)
        assert again["files"] == SIZES[-1]
        print(f"{SIZES[-1]} files listed again: peak {warm_peak / 1e6:.1f} MB")
    (_, small_bytes, small_peak), (_, big_bytes, big_peak) = peaks
    # Three times the files, about the same memory: one slice is held at a time.
    # Held at once, the JSON alone would take its own size, the rows far more,
    # and memory would triple with the files; 1.6x leaves room for the
    # allocator's noise (a peak of 10.0 MB against 8.7 MB was seen) and still
    # fails anything that grows with the collection.
    assert big_bytes > 2.5 * small_bytes
    assert big_peak < small_peak * 1.6
    assert big_peak < big_bytes / 3
    assert warm_peak < small_peak * 1.6


def _listing(client: TestClient, app: Any) -> tuple[dict[str, Any], int]:
    svc = services(client)
    received: dict[str, Any] = {"status": 0, "bytes": 0, "files": 0, "head": b"", "tail": b""}

    async def listing() -> None:
        # The app called as the server calls it, with a `send` that keeps only
        # the first and last bytes: nothing else holds the body.
        never = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await never.wait()  # the client stays connected
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                received["status"] = message["status"]
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                received["bytes"] += len(body)
                received["head"] = (received["head"] + body)[:200]
                received["tail"] = (received["tail"] + body)[-200:]
                # each chunk holds whole files: count them as they go by
                received["files"] += body.count(b'"path":"/files/')

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/files/", "raw_path": b"/files/", "query_string": b"",
            "root_path": "", "headers": [(b"host", b"test")], "client": ("127.0.0.1", 1),
            "server": ("test", 80), "state": {"services": svc},
        }  # fmt: skip
        await app(scope, receive, send)

    tracemalloc.start()
    try:
        portal_run(client, listing)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return received, peak
