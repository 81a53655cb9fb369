"""The CSV export of 100,000 files streams: the app's memory stays flat."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from config import Settings
from server import create_app
from testkit.collection import grow
from tests.helpers import portal_run, services

ROWS = 100_000


def test_a_100000_row_export_streams_in_bounded_memory(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'big.db'}"
    grow(database_url, to=ROWS, have=0)  # rows written straight into the database
    app = create_app(make_settings(database_url=database_url, recognizer="huggingface"))
    with TestClient(app) as client:
        client.get("/visualization/export/csv?make=nobody")  # warm-up: imports, connections
        svc = services(client)
        received = {"bytes": 0, "lines": 0, "status": 0}

        async def export() -> None:
            # The app called as the server calls it, with a `send` that only
            # counts: nothing on the receiving side holds the body.
            sent_request = False
            never = asyncio.Event()

            async def receive() -> dict[str, Any]:
                # The (empty) request once; then, like a server whose client
                # stays connected, nothing until the response is done.
                nonlocal sent_request
                if not sent_request:
                    sent_request = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                await never.wait()
                raise AssertionError("unreachable")

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    received["status"] = message["status"]
                elif message["type"] == "http.response.body":
                    received["bytes"] += len(message.get("body", b""))
                    received["lines"] += message.get("body", b"").count(b"\n")

            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": "/visualization/export/csv", "raw_path": b"/visualization/export/csv",
                "query_string": b"status=all", "root_path": "", "headers": [(b"host", b"test")],
                "client": ("127.0.0.1", 1), "server": ("test", 80), "state": {"services": svc},
            }  # fmt: skip
            await app(scope, receive, send)  # type: ignore[arg-type]

        tracemalloc.start()
        try:
            portal_run(client, export)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received["status"] == 200
    assert received["lines"] == ROWS + 1
    print(f"exported {received['bytes'] / 1e6:.1f} MB, peak Python memory {peak / 1e6:.1f} MB")
    # Held at once, the CSV alone would take its own size; streamed, one slice
    # of 500 files is in memory at a time.
    assert peak < received["bytes"] / 2, (
        f"peak {peak / 1e6:.1f} MB for {received['bytes'] / 1e6:.1f} MB of CSV"
    )
