"""A server restarted on the same data folder finds everything as it was, and
clears what a crash left half-done."""

from __future__ import annotations

import hashlib
import os
import time

from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests import images
from tests.helpers import gql, record_predictions, upload_jpeg


def test_restart_finds_every_file_intact(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        sent = {upload_jpeg(client, f"{i}.jpg", color=(i * 30, 5, 5))["id"]: i for i in range(5)}
        first = next(iter(sent))
        record_predictions(client, first, [("Audi S4 Sedan 2012", 0.7)])
        before = client.get("/files/").json()
        client.delete(f"/files/{list(sent)[1]}")
    with TestClient(create_app(settings)) as client:
        after = client.get("/files/").json()
        assert after == [f for f in before if f["id"] != list(sent)[1]]
        for meta in after:
            data = client.get(meta["path"]).content
            assert hashlib.sha256(data).hexdigest() == meta["sha256"]
        assert after[0]["results"][0]["label"] == "Audi S4 Sedan 2012"
        assert (
            gql(client, "{ files(first: 10) { totalCount } }")["data"]["files"]["totalCount"] == 4
        )


def test_start_up_sweeps_what_a_crash_left_behind(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        kept = upload_jpeg(client)
    root = settings.upload_dir
    # an image stored just before a crash stopped its row being written
    orphan = root / "images" / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(images.jpeg())
    partial = root / "tmp" / "deadbeef.part"
    partial.write_bytes(b"half an upload")
    fresh_orphan = root / "images" / "cd" / ("cd" + "1" * 62)
    fresh_orphan.parent.mkdir(parents=True, exist_ok=True)
    fresh_orphan.write_bytes(b"x")
    old = time.time() - settings.orphan_grace_seconds - 10
    for path in (orphan, partial):
        os.utime(path, (old, old))
    with TestClient(create_app(settings)) as client:
        assert not orphan.exists()
        assert not partial.exists()
        # young enough to belong to an upload still in flight elsewhere: kept
        assert fresh_orphan.exists()
        assert client.get(kept["path"]).status_code == 200
