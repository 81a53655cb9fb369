"""A real cluster: 2 API replicas and 2 recognition workers as separate
processes (uvicorn, `python worker.py`), started at the same moment on a new
PostgreSQL database (JOB_QUEUE=postgres), sharing one image folder."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import websockets

from bench.cluster import Cluster, cluster, fresh_database
from tests import images


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    with (
        fresh_database() as url,
        cluster(
            folder,
            url,
            replicas=2,
            workers=2,
            HF_MODEL=str(tiny_model),
            WORKER_CONCURRENCY="2",
            JOB_HEARTBEAT_SECONDS="2",  # a dead worker's job moves on after 2 s
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
