"""The storage protocol of resolvers/blobs.py under a race: two app instances
(each its own engine, event loop and locks, as two replicas) share one database
and one bucket, and upload and delete the same bytes at once, while readers on
both fetch every image. Then both invariants are checked:

  I1  no file row ever points to a missing object (checked during the race too:
      an image answered 404 while its file still exists is a failure);
  I2  objects no row references are gone once the grace period has passed.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from config import Settings
from db.models import BlobRow
from server import create_app
from testkit.s3 import MotoS3
from tests import images
from tests.helpers import portal_run, services

ROUNDS = 12
PREFIX = "cars"


@pytest.fixture
def replicas(
    moto_s3: MotoS3, make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[str, list[TestClient]]]:
    bucket = moto_s3.new_bucket()
    clients = []
    for name in ("a", "b"):
        settings = make_settings(
            **moto_s3.settings_for(bucket, PREFIX),
            upload_dir=tmp_path / name,
            orphan_grace_seconds=1,
            orphan_sweep_seconds=0.3,
        )
        clients.append(TestClient(create_app(settings)))
    for client in clients:
        client.__enter__()
    yield bucket, clients
    for client in clients:
        client.__exit__(None, None, None)


def _key(data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    return f"{PREFIX}/images/{sha[:2]}/{sha}"


def _until(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_racing_uploads_and_deletes_of_the_same_bytes_keep_both_invariants(
    replicas: tuple[str, list[TestClient]], moto_s3: MotoS3
) -> None:
    bucket, clients = replicas
    variants = [images.jpeg(96, 64, color=(i * 90, 40, 40)) for i in range(2)]
    problems: list[str] = []
    uploaded = {id(c): 0 for c in clients}
    deleted = {id(c): 0 for c in clients}
    racing = threading.Event()
    racing.set()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[int] = []
        for _ in range(ROUNDS):
            client = rng.choice(clients)
            data = rng.choice(variants)
            response = client.post("/upload/", files={"file": ("car.jpg", data, "image/jpeg")})
            if response.status_code != 200:
                problems.append(f"upload answered {response.status_code}: {response.text}")
                continue
            uploaded[id(client)] += 1
            mine.append(response.json()["files"][0]["id"])
            while mine and rng.random() < 0.7:
                victim = mine.pop(rng.randrange(len(mine)))
                client = rng.choice(clients)
                status = client.delete(f"/files/{victim}").status_code
                if status != 200:
                    problems.append(f"delete of {victim} answered {status}")
                deleted[id(client)] += 1

    def reader(client: TestClient) -> None:
        while racing.is_set():
            for meta in client.get("/files/").json():
                for url in (meta["path"], meta["thumbnail_url"]):
                    status = client.get(url).status_code
                    if status == 404 and client.get(f"/files/{meta['id']}").status_code == 200:
                        problems.append(f"file {meta['id']} exists, {url} is missing")
                    elif status not in (200, 404):
                        problems.append(f"{url} answered {status}")

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    readers = [threading.Thread(target=reader, args=(client,)) for client in clients]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join()
    racing.clear()
    for thread in readers:
        thread.join()
    assert problems == []
    # Both replicas both uploaded and deleted.
    assert all(uploaded.values())
    assert all(deleted.values())

    # I1: every file left is served whole, from either replica.
    files = clients[0].get("/files/").json()
    by_sha = {hashlib.sha256(v).hexdigest(): v for v in variants}
    for meta in files:
        for client in clients:
            assert client.get(meta["path"]).content == by_sha[meta["sha256"]]
    # I2: the images no file uses are gone once the grace period has passed.
    wanted = {_key(by_sha[meta["sha256"]]) for meta in files}
    assert _until(lambda: {k for k in moto_s3.keys(bucket) if "/images/" in k} == wanted), (
        moto_s3.keys(bucket)
    )

    # Deleting every file leaves the bucket, and the blobs table, empty.
    assert clients[1].delete("/files/").status_code == 200
    assert _until(lambda: moto_s3.keys(bucket) == []), moto_s3.keys(bucket)
    svc = services(clients[0])

    async def blob_rows() -> int:
        async with svc.session() as session:
            return len((await session.exec(select(BlobRow))).all())

    assert _until(lambda: portal_run(clients[0], blob_rows) == 0)
