"""Pulled plugs: the database going away, the server killed mid-upload, a
remote recognizer that fails at random. Requests fail cleanly, nothing is
half-written, and the service recovers."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from testkit.servers import server
from tests import fake_hf as hf
from tests import images
from tests.conftest import stored_images
from tests.fake_hf import FakeHuggingFace
from tests.helpers import gql, gql_upload, upload_jpeg
from tests.tcp_proxy import TcpProxy


@contextmanager
def _sqlite_locked(path: str) -> Iterator[None]:
    """Another process holds SQLite's write lock (a backup, a stuck script)."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def _outage_settings(
    make_settings: Callable[..., Settings], database_url: str
) -> tuple[Settings, Callable[[], Any], TcpProxy | None]:
    """Settings whose database can be made unavailable, and what does it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        settings = make_settings(db_busy_timeout_seconds=0.5)
        return settings, lambda: _sqlite_locked(str(url.database)), None
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)

    @contextmanager
    def cut() -> Iterator[None]:
        proxy.cut()  # PostgreSQL is gone: connections reset, new ones refused
        try:
            yield
        finally:
            proxy.restore()

    return make_settings(database_url=proxied), cut, proxy


def test_a_database_outage_fails_cleanly_with_503_and_recovers(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings, outage, proxy = _outage_settings(make_settings, database_url)
    try:
        with TestClient(create_app(settings)) as client:
            kept = upload_jpeg(client, "kept.jpg")
            on_disk = stored_images(settings)
            with outage():
                refused = client.post(
                    "/upload/",
                    files={"file": ("new.jpg", images.jpeg(color=(1, 2, 3)), "image/jpeg")},
                )
                assert refused.status_code == 503
                assert "database is unavailable" in refused.json()["detail"]
                assert refused.headers["retry-after"]
                assert client.delete(f"/files/{kept['id']}").status_code == 503
                answer = gql(client, 'mutation { deleteFiles(ids: ["1"]) { deletedIds } }')
                assert answer["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
                if proxy is not None:  # PostgreSQL gone: reads fail too, and /health says so
                    assert client.get("/files/").status_code == 503
                    assert client.get("/health").status_code == 503
            # and afterwards everything works, with nothing lost
            assert client.get(f"/files/{kept['id']}").status_code == 200
            again = upload_jpeg(client, "new.jpg", color=(1, 2, 3))
            assert {f["id"] for f in client.get("/files/").json()} == {again["id"], kept["id"]}
            assert client.get("/health").json()["status"] == "ok"
            assert len(stored_images(settings)) == len(on_disk) + 1
    finally:
        if proxy is not None:
            proxy.stop()


UPLOAD_FILES = (
    "mutation($files: [Upload!]!) { uploadFiles(files: $files) { files { id } errors { code } } }"
)
INFER_FILES = "mutation($ids: [ID!]!) { inferFiles(ids: $ids) { files { id } errors { code message index } } }"


def test_batch_mutations_in_a_database_outage_answer_unavailable_not_a_masked_bug(
    make_settings: Callable[..., Settings],
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, outage, proxy = _outage_settings(make_settings, database_url)
    try:
        with TestClient(create_app(settings)) as client:
            ids = [str(upload_jpeg(client, f"{n}.jpg", color=(n, 0, 0))["id"]) for n in range(2)]
            with caplog.at_level(logging.DEBUG), outage():
                inferred = gql(client, INFER_FILES, {"ids": ids})
                uploaded = gql_upload(
                    client,
                    UPLOAD_FILES,
                    {"0": ("new.jpg", images.jpeg(color=(9, 9, 9)))},
                    {"files": [None]},
                    {"0": ["variables.files.0"]},
                ).json()
            # inferFiles: each id fails on its own, saying why, with a code
            payload = inferred["data"]["inferFiles"]
            assert payload["files"] == []
            assert [e["code"] for e in payload["errors"]] == ["UNAVAILABLE", "UNAVAILABLE"]
            assert [e["index"] for e in payload["errors"]] == [0, 1]
            assert all("database" in e["message"] for e in payload["errors"])
            # uploadFiles: nothing can be stored, so the request as a whole fails
            [error] = uploaded["errors"]
            assert error["extensions"]["code"] == "UNAVAILABLE"
            assert "database" in error["message"]
            assert "Unexpected error" not in str([inferred, uploaded])
            bugs = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert not bugs, [r.getMessage() for r in bugs]
            # afterwards both work again
            assert gql(client, INFER_FILES, {"ids": []})["data"]["inferFiles"]["errors"] == []
            assert client.get("/files/").status_code == 200
    finally:
        if proxy is not None:
            proxy.stop()


def test_results_lost_to_an_outage_leave_the_file_pending_not_processing(
    make_hf_settings: Callable[..., Settings], fake_hf: FakeHuggingFace, tmp_path: Path
) -> None:
    settings = make_hf_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cars.db'}",
        db_busy_timeout_seconds=0.5,
        hf_timeout_seconds=10,
    )
    gate = _Gate()
    fake_hf.default = gate
    with TestClient(create_app(settings)) as client:
        file_id = upload_jpeg(client)["id"]
        reply: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: reply.update(r=client.post(f"/inference/{file_id}"))
        )
        gate.hold()
        worker.start()
        gate.wait_for_request()  # the file is `processing` now
        with _sqlite_locked(str(tmp_path / "cars.db")):
            gate.release()  # the answer arrives, and cannot be stored
            worker.join(30)
            assert reply["r"].status_code == 503
            assert client.get(f"/files/{file_id}").json()["status"] == "processing"
        # the lock is gone: the file goes back to pending within seconds
        deadline = time.monotonic() + 10
        while client.get(f"/files/{file_id}").json()["status"] != "pending":
            assert time.monotonic() < deadline, "the file stayed processing"
            time.sleep(0.2)
        assert client.post(f"/inference/{file_id}").json()["status"] == "done"


class _Gate:
    """A fake Hugging Face answer that waits until the test lets it go."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.go = threading.Event()
        self.go.set()

    def hold(self) -> None:
        self.go.clear()

    def release(self) -> None:
        self.go.set()

    def wait_for_request(self) -> None:
        assert self.arrived.wait(10)

    async def __call__(self, writer: Any) -> None:
        self.arrived.set()
        # the fake server runs its own event loop in another thread: wait there
        await asyncio.to_thread(self.go.wait, 30)
        await hf.ok()(writer)


def test_sigkill_in_the_middle_of_uploads_loses_nothing_acknowledged(
    tmp_path: Path, database_url: str
) -> None:
    """Four clients upload in a loop; the server is killed with SIGKILL at a
    random moment, then started again on the same data."""
    env = {"DATABASE_URL": database_url, "RECOGNIZER": "huggingface"}
    acknowledged: dict[int, str] = {}  # id → sha256 of what was sent
    stop = threading.Event()
    lock = threading.Lock()

    def uploader(url: str, worker: int) -> None:
        n = 0
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                n += 1
                data = images.jpeg(120, 90, color=(worker * 60, n % 256, (n // 256) % 256))
                try:
                    answer = http.post(
                        f"{url}/upload/", files={"file": (f"{worker}-{n}.jpg", data, "image/jpeg")}
                    )
                except httpx.TransportError:
                    continue  # the server died under this request: not acknowledged
                if answer.status_code == 200:
                    with lock:
                        acknowledged[answer.json()["files"][0]["id"]] = hashlib.sha256(
                            data
                        ).hexdigest()

    with server(tmp_path, **env) as live:
        workers = [threading.Thread(target=uploader, args=(live.url, w)) for w in range(4)]
        for thread in workers:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 + random.randrange(20):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(live.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        stop.set()
        for thread in workers:
            thread.join(30)
    assert len(acknowledged) >= 40

    with server(tmp_path, **env) as live:
        listed = {f["id"]: f for f in httpx.get(f"{live.url}/files/").json()}
        for file_id, sha in acknowledged.items():
            assert file_id in listed, f"upload {file_id} was acknowledged, then lost"
            image = httpx.get(f"{live.url}/files/{file_id}/image")
            assert image.status_code == 200
            assert hashlib.sha256(image.content).hexdigest() == sha
        # every row has its image, and every image on disk has a row
        uploads = tmp_path / "uploads"
        on_disk = {p.name for p in uploads.glob("images/*/*") if p.is_file()}
        assert on_disk == {f["sha256"] for f in listed.values()}
        # and no partial upload is left (only the new server's own lock file)
        assert [p.name for p in uploads.glob("tmp/**/*") if p.is_file()] == ["lock"]


def _chaos(seed: int) -> Callable[[Any], Any]:
    """Each answer picked at random: fine, slow past the timeout, the connection
    dropped, 503 (loading), 429, 500, or garbage."""
    rng = random.Random(seed)
    choices: list[tuple[int, Callable[[], hf.Behaviour]]] = [
        (45, lambda: hf.ok()),
        (10, lambda: hf.ok(delay=1.0)),  # past the 0.3 s timeout
        (10, lambda: hf.drop()),
        (10, lambda: hf.answer(503, {"error": "Model is loading", "estimated_time": 0.01})),
        (8, lambda: hf.answer(429, {"error": "rate limited"}, headers={"Retry-After": "0"})),
        (8, lambda: hf.answer(500, {"error": "boom"})),
        (5, lambda: hf.answer(200, b"<html>not json</html>")),
        (4, lambda: hf.answer(200, [{"label": 7}])),
    ]
    weights = [w for w, _ in choices]

    async def respond(writer: Any) -> None:
        [(_, make)] = rng.choices(choices, weights)
        await make()(writer)

    return respond


def test_a_soak_against_a_flaky_upstream_ends_with_every_file_done_or_failed(
    make_hf_settings: Callable[..., Settings], fake_hf: FakeHuggingFace
) -> None:
    settings = make_hf_settings(
        hf_timeout_seconds=0.3,
        hf_max_attempts=3,
        hf_retry_budget_seconds=5,
        hf_max_concurrency=8,
        infer_concurrency=8,
    )
    fake_hf.default = _chaos(seed=20261126)
    with TestClient(create_app(settings)) as client:
        ids = [
            upload_jpeg(client, f"{i}.jpg", color=(i % 256, i // 256, 77))["id"] for i in range(240)
        ]
        for start in range(0, len(ids), 100):
            answer = client.post("/inference/batch", json=ids[start : start + 100])
            assert answer.status_code == 200, answer.text
        files = client.get("/files/").json()
    assert len(files) == 240
    by_status: dict[str, int] = {}
    for f in files:
        by_status[f["status"]] = by_status.get(f["status"], 0) + 1
        if f["status"] == "failed":
            assert f["error"], f  # with a reason
        else:
            assert f["status"] == "done", f
            assert f["results"]
    assert by_status["done"] > 150  # retries carry most files through
    assert len(fake_hf.requests) > 240  # and there were retries
    print(f"soak: {by_status}, {len(fake_hf.requests)} upstream requests")
