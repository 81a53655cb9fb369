"""A real cluster: 2 API replicas and 2 recognition workers as separate
processes (uvicorn, `python worker.py`), started at the same moment on a new
PostgreSQL database (JOB_QUEUE=postgres), with the images in one bucket of a
real S3 server (SeaweedFS's `weed`); each process has an UPLOAD_DIR of its own."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx2 as httpx
import pytest
import websockets

from db.engine import asyncpg_dsn
from testkit.cluster import Cluster, cluster, fresh_database
from testkit.s3 import SeaweedS3
from tests import images

GRACE_SECONDS = 3  # ORPHAN_GRACE_SECONDS: unused objects go this long after


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, seaweed_s3: SeaweedS3
) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    with (
        fresh_database() as url,
        cluster(
            folder,
            url,
            replicas=2,
            workers=2,
            s3=seaweed_s3,
            HF_MODEL=str(tiny_model),
            WORKER_CONCURRENCY="2",
            JOB_HEARTBEAT_SECONDS="2",  # a dead worker's job moves on after 2 s
            ORPHAN_GRACE_SECONDS=str(GRACE_SECONDS),
            ORPHAN_SWEEP_SECONDS="0.5",
        ) as c,
    ):
        yield c


def _upload(url: str, name: str, color: tuple[int, int, int]) -> int:
    answer = httpx.post(
        f"{url}/upload/", files={"file": (name, images.jpeg(color=color), "image/jpeg")}
    )
    answer.raise_for_status()
    file_id: int = answer.json()["files"][0]["id"]
    return file_id


def _uploads(c: Cluster, count: int, tag: int) -> list[int]:
    """`count` different photos, sent to the replicas in turn."""
    return [
        _upload(c.replicas[i % 2].url or "", f"{tag}-{i}.jpg", (i * 4 % 256, tag, 255 - i))
        for i in range(count)
    ]


def _file(url: str, file_id: int) -> dict[str, Any]:
    answer = httpx.get(f"{url}/files/{file_id}")
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def test_uploads_to_either_replica_are_served_by_the_other(running: Cluster) -> None:
    a, b = (r.url or "" for r in running.replicas)
    for sender, reader in ((a, b), (b, a)):
        data = images.jpeg(color=(10, 200, 30) if sender == a else (200, 10, 30))
        answer = httpx.post(f"{sender}/upload/", files={"file": ("car.jpg", data, "image/jpeg")})
        file_id = answer.json()["files"][0]["id"]
        assert httpx.get(f"{reader}/files/{file_id}/image").content == data
        assert httpx.get(f"{reader}/files/{file_id}/thumbnail").status_code == 200
        assert _file(reader, file_id)["filename"] == "car.jpg"
        sha = hashlib.sha256(data).hexdigest()
        assert f"cars/images/{sha[:2]}/{sha}" in running.objects()
    # Nothing is kept on the replicas' own disks: only their lock files.
    for replica in running.replicas:
        kept = [p for p in running.upload_dir(replica.name).rglob("*") if p.is_file()]
        assert [p.name for p in kept] == ["lock"]


def test_a_batch_spread_over_both_workers_finishes(running: Cluster) -> None:
    ids = _uploads(running, 40, tag=1)
    answer = httpx.post(f"{running.replicas[0].url}/inference/batch", json=ids, timeout=120)
    assert answer.status_code == 200
    results = answer.json()
    assert [r["id"] for r in results] == ids
    assert all(r["status"] == "done" and len(r["predictions"]) == 5 for r in results)
    took = [worker.jobs()[0] & set(ids) for worker in running.workers]
    assert all(took), "each worker took some of the batch"
    assert took[0] | took[1] == set(ids)


def test_a_worker_killed_mid_batch_loses_nothing(running: Cluster) -> None:
    ids = _uploads(running, 60, tag=2)
    victim, survivor = running.workers
    outcome: dict[str, Any] = {}

    def batch() -> None:
        answer = httpx.post(f"{running.replicas[1].url}/inference/batch", json=ids, timeout=120)
        outcome["status"], outcome["results"] = answer.status_code, answer.json()

    sender = threading.Thread(target=batch)
    sender.start()
    # Kill the victim while it holds a job it has not finished.
    held: set[int] = set()
    deadline = time.monotonic() + 60
    while not held and time.monotonic() < deadline:
        took, finished = victim.jobs()
        held = (took - finished) & set(ids)
    victim.kill()
    assert held, "the victim was caught holding a job"
    took, finished = victim.jobs()
    held = (took - finished) & set(ids)  # what it held when it died
    sender.join(timeout=120)

    assert outcome["status"] == 200
    assert all(r["status"] == "done" for r in outcome["results"]), outcome["results"]
    for file_id in ids:  # each recognized once: five predictions, ranks 1 to 5
        meta = _file(running.replicas[0].url or "", file_id)
        assert meta["status"] == "done"
        assert len(meta["results"]) == 5
    assert held <= survivor.jobs()[1], "the survivor finished what the victim held"
    running.start_worker()  # back to two for the next test
    running.wait_ready()


def test_a_subscriber_on_one_replica_sees_work_done_elsewhere(running: Cluster) -> None:
    a, b = (r.url or "" for r in running.replicas)
    file_id = _upload(a, "watched.jpg", (90, 90, 250))

    async def scenario() -> list[dict[str, Any]]:
        url = b.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
            query = (
                "subscription ($ids: [ID!]) { fileEvents(ids: $ids) "
                "{ kind databaseId file { status predictions { rank } } } }"
            )
            payload = {"query": query, "variables": {"ids": [str(file_id)]}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            seen: list[dict[str, Any]] = []
            while not seen or seen[-1]["kind"] != "DONE":
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                seen.append(message["payload"]["data"]["fileEvents"])
                if len(seen) == 1:  # the current state: listening; now work elsewhere
                    mutation = (
                        "mutation ($ids: [ID!]!) { recognizeFiles(ids: $ids) { files { status } } }"
                    )
                    answer = await asyncio.to_thread(
                        httpx.post,
                        f"{a}/graphql",
                        json={"query": mutation, "variables": {"ids": [str(file_id)]}},
                    )
                    assert answer.json()["data"]["recognizeFiles"]["files"] == [
                        {"status": "QUEUED"}
                    ]
            return seen

    seen = asyncio.run(scenario())
    assert seen[0]["kind"] == "PENDING"  # its state when subscribed
    # Processes send their events independently: QUEUED (replica A) may come
    # after PROCESSING (a worker); each event carries the file as re-read.
    assert "PROCESSING" in [e["kind"] for e in seen]
    assert seen[-1]["file"]["status"] == "DONE"
    assert [p["rank"] for p in seen[-1]["file"]["predictions"]] == [1, 2, 3, 4, 5]


def _until(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def test_racing_uploads_and_deletes_of_the_same_bytes_keep_the_invariants(
    running: Cluster,
) -> None:
    """Writers upload two photos over and over to either replica and delete
    their files through either, while readers on both fetch every image and
    thumbnail. No file may ever lack its image (I1), and once the grace period
    has passed, the bucket holds the images of the files left and no other (I2)."""
    urls = [r.url or "" for r in running.replicas]
    variants = [images.jpeg(96, 64, color=(i * 90, 40, 200)) for i in range(2)]
    by_sha = {hashlib.sha256(v).hexdigest(): v for v in variants}
    problems: list[str] = []
    done: dict[str, set[str]] = {"uploads": set(), "deletes": set()}  # by which replicas
    racing = threading.Event()
    racing.set()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[int] = []
        for _ in range(15):
            url = rng.choice(urls)
            data = rng.choice(variants)
            answer = httpx.post(
                f"{url}/upload/", files={"file": ("race.jpg", data, "image/jpeg")}, timeout=60
            )
            if answer.status_code != 200:
                problems.append(f"upload answered {answer.status_code}: {answer.text}")
                continue
            done["uploads"].add(url)
            mine.append(answer.json()["files"][0]["id"])
            while mine and rng.random() < 0.7:
                victim = mine.pop(rng.randrange(len(mine)))
                url = rng.choice(urls)
                status = httpx.delete(f"{url}/files/{victim}", timeout=60).status_code
                if status != 200:
                    problems.append(f"delete of {victim} answered {status}")
                done["deletes"].add(url)

    def reader(url: str) -> None:
        while racing.is_set():
            for meta in httpx.get(f"{url}/files/", timeout=60).json():
                if meta["sha256"] not in by_sha:
                    continue
                for path in (meta["path"], meta["thumbnail_url"]):
                    status = httpx.get(f"{url}{path}", timeout=60).status_code
                    still = httpx.get(f"{url}/files/{meta['id']}", timeout=60).status_code
                    if status == 404 and still == 200:
                        problems.append(f"file {meta['id']} exists, {path} is missing")
                    elif status not in (200, 404):
                        problems.append(f"{path} answered {status}")

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    readers = [threading.Thread(target=reader, args=(url,)) for url in urls]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join()
    racing.clear()
    for thread in readers:
        thread.join()
    assert problems == []
    assert done["uploads"] == done["deletes"] == set(urls), "both replicas did both"

    race = [m for m in httpx.get(f"{urls[0]}/files/").json() if m["sha256"] in by_sha]
    # The first photo's last files go too, so one image surely has no file left.
    gone = hashlib.sha256(variants[0]).hexdigest()
    for meta in race:
        if meta["sha256"] == gone:
            assert httpx.delete(f"{urls[1]}/files/{meta['id']}").status_code == 200
    left = [m for m in race if m["sha256"] != gone]
    for meta in left:  # I1: whole, from either replica
        for url in urls:
            assert httpx.get(f"{url}{meta['path']}").content == by_sha[meta["sha256"]]
    wanted = {f"cars/images/{m['sha256'][:2]}/{m['sha256']}" for m in left}

    def images_of_the_race() -> set[str]:
        return {k for k in running.objects() if "/images/" in k and k.rsplit("/")[-1] in by_sha}

    # I2: past the grace period (and a sweep), only the images still used remain.
    assert _until(lambda: images_of_the_race() == wanted), (images_of_the_race(), wanted)


def _blob_rows(running: Cluster) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(asyncpg_dsn(running.database_url))
        try:
            found: int = await connection.fetchval("SELECT count(*) FROM blobs")
            return found
        finally:
            await connection.close()

    return asyncio.run(count())


def test_deleting_every_file_empties_the_bucket_once_the_grace_period_has_passed(
    running: Cluster,
) -> None:
    a, b = (r.url or "" for r in running.replicas)
    _uploads(running, 6, tag=7)  # and the files every earlier test left
    for file_id in _uploads(running, 2, tag=8):  # with thumbnails made on both
        for url in (a, b):
            assert httpx.get(f"{url}/files/{file_id}/thumbnail").status_code == 200
    assert running.objects()
    answer = httpx.delete(f"{b}/files/", timeout=120)
    assert answer.status_code == 200
    assert httpx.get(f"{a}/files/").json() == []
    assert _until(lambda: running.objects() == []), running.objects()
    assert _until(lambda: _blob_rows(running) == 0)
