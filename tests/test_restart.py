"""A server restarted on the same data folder finds everything as it was, and
clears what a crash left half-done."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx2 as httpx
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from testkit.servers import server
from tests import images
from tests.conftest import stored_images
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


def _orphan(root: Path, byte: str, *, age: float = 0) -> Path:
    """An image file no row points at, as a crash between storing an image and
    writing its row leaves one."""
    path = root / "images" / (byte * 2) / (byte * 64)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(images.jpeg())
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def _live_folder(root: Path) -> Path:
    """The tmp/ folder of the one server process running on `root`."""
    [folder] = [p for p in (root / "tmp").iterdir() if p.is_dir()]
    return folder


def test_start_up_sweeps_what_a_crash_left_behind_at_once(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        kept = upload_jpeg(client)
    root = settings.upload_dir
    # all of it as young as can be: the crash was a moment ago
    orphan = _orphan(root, "a")
    dead = root / "tmp" / "4242-deadprocess"  # a killed server's folder: its lock is free
    dead.mkdir()
    (dead / "lock").touch()
    (dead / "1234.part").write_bytes(b"half an upload")
    legacy = root / "tmp" / "deadbeef.part"  # from a server before per-process folders
    legacy.write_bytes(b"half an upload")
    with TestClient(create_app(settings)) as client:
        assert not orphan.exists()
        assert not dead.exists()
        assert not legacy.exists()
        assert client.get(kept["path"]).status_code == 200
        assert stored_images(settings) == [root / "images" / kept["sha256"][:2] / kept["sha256"]]


def test_a_second_server_keeps_what_the_first_may_still_be_doing(settings: Settings) -> None:
    """A restart that overlaps the old server (both live on one folder for a
    while): the new one must not take the old one's uploads in flight."""
    root = settings.upload_dir
    with TestClient(create_app(settings)) as first:
        in_flight = _live_folder(root) / "5678.part"
        in_flight.write_bytes(b"still arriving")
        young = _orphan(root, "b")  # may be the first server's, between image and row
        old = _orphan(root, "c", age=settings.orphan_grace_seconds + 10)
        with TestClient(create_app(settings)):
            assert in_flight.exists()
            assert young.exists()
            assert not old.exists()
        assert upload_jpeg(first)["id"]  # the first still serves
    with TestClient(create_app(settings)):  # alone now: the rest goes
        assert not in_flight.exists()
        assert not young.exists()


def _hold_writes(database_url: str) -> Callable[[], None]:
    """Take the database's write lock from outside the server, as a stuck
    script would; returns what gives it back. On PostgreSQL (a lock on `files`)
    uploads then claim and store their image and wait to write its row; on
    SQLite (one lock for every table) they wait to claim it, checked, in tmp/."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        other = sqlite3.connect(str(url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")

        def release_sqlite() -> None:
            other.execute("ROLLBACK")
            other.close()

        return release_sqlite
    locked, done = threading.Event(), threading.Event()

    async def hold() -> None:
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE files IN SHARE ROW EXCLUSIVE MODE")
                locked.set()
                await asyncio.to_thread(done.wait, 120)
        finally:
            await connection.close()

    holder = threading.Thread(target=lambda: asyncio.run(hold()), daemon=True)
    holder.start()
    assert locked.wait(30)

    def release_postgres() -> None:
        done.set()
        holder.join(30)

    return release_postgres


def test_a_restart_right_after_sigkill_leaves_nothing_behind(
    tmp_path: Path, database_url: str
) -> None:
    """SIGKILL while uploads are half done (some still being checked from tmp/,
    some stored and waiting to write their row), then an immediate restart:
    no partial upload and no image without a row survives it."""
    env = {
        "DATABASE_URL": database_url,
        "RECOGNIZER": "huggingface",
        "DB_BUSY_TIMEOUT_SECONDS": "120",  # the uploads wait for the lock, not fail
        "DECODE_MEMORY_MB": "16",  # one decode at a time: the others wait in tmp/
    }
    uploads = tmp_path / "uploads"
    big = images.png(2500, 2500, mode="RGB")  # 25 MB decoded: over the budget, alone
    with server(tmp_path, **env) as live:
        release = _hold_writes(database_url)
        try:

            def send(n: int) -> None:
                data, name = (images.jpeg(color=(n, 9, 9)), "c.jpg") if n % 2 else (big, "b.png")
                with contextlib.suppress(httpx.TransportError):
                    httpx.post(f"{live.url}/upload/", files={"file": (name, data)}, timeout=120)

            senders = [threading.Thread(target=send, args=(n,)) for n in range(12)]
            for thread in senders:
                thread.start()
            deadline = time.monotonic() + 60
            # (on SQLite no image can be stored while the lock is held: see above)
            sqlite = make_url(database_url).get_backend_name() == "sqlite"
            while not (
                list(uploads.glob("tmp/**/*.part")) and (sqlite or list(uploads.glob("images/*/*")))
            ):
                assert time.monotonic() < deadline, "the uploads never got half way"
                time.sleep(0.005)
            os.kill(live.pid, signal.SIGKILL)
            for thread in senders:
                thread.join(30)
        finally:
            release()
    with server(tmp_path, **env) as live:  # at once: well within ORPHAN_GRACE_SECONDS
        assert httpx.get(f"{live.url}/files/").json() == []
        assert [p for p in uploads.glob("images/*/*")] == []
        leftovers = [p for p in uploads.glob("tmp/**/*") if p.is_file()]
        assert [p for p in leftovers if p.name != "lock"] == []
        assert (
            httpx.post(f"{live.url}/upload/", files={"file": ("ok.jpg", images.jpeg())}).status_code
            == 200
        )
