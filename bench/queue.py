"""`scripts/bench cluster`: the job queue across real processes.

- recognitions per second through a cluster with 1 and then 2 workers (the
  tiny ViT, so that the queue and the processes are measured, not the model);
- what the queue adds to one synchronous 640x480 recognition with the real-size
  ViT-B/16: POST /inference/{id} through a replica and a worker, against the
  same route on one in-process server;
- lost and duplicated jobs over 500 recognitions with a worker SIGKILLed twice.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx2 as httpx

from bench.harness import Figure
from bench.recognition import make_model
from testkit.cluster import Cluster, cluster, fresh_database
from testkit.models import save_tiny_vit
from testkit.servers import server
from tests import images


def _cluster(folder: Path, url: str, workers: int, model: Path) -> AbstractContextManager[Cluster]:
    return cluster(
        folder,
        url,
        replicas=1,
        workers=workers,
        HF_MODEL=str(model),
        WORKER_CONCURRENCY="8",
        JOB_HEARTBEAT_SECONDS="3",  # a killed worker's jobs move on after 3 s
    )


def _upload(url: str, count: int, tag: int, size: tuple[int, int] = (64, 48)) -> list[int]:
    ids = []
    for i in range(count):
        data = images.jpeg(*size, color=(i % 256, (i // 256) % 256, tag))
        answer = httpx.post(f"{url}/upload/", files={"file": (f"{i}.jpg", data, "image/jpeg")})
        answer.raise_for_status()
        ids.append(answer.json()["files"][0]["id"])
    return ids


def _recognize_all(url: str, ids: list[int]) -> float:
    """Every id through POST /inference/batch, 100 at a time, 4 requests at once."""
    groups = [ids[i : i + 100] for i in range(0, len(ids), 100)]
    started = time.perf_counter()
    threads = [
        threading.Thread(
            target=lambda g=group: httpx.post(f"{url}/inference/batch", json=g, timeout=600)
        )
        for group in groups
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def throughput(folder: Path, model: Path, runs: int) -> list[Figure]:
    figures = []
    for workers in (1, 2):
        with (
            fresh_database() as url,
            _cluster(folder / f"t{workers}", url, workers, model) as c,
        ):
            api = c.replicas[0].url or ""
            rates = []
            for run in range(runs + 1):
                ids = _upload(api, 200, tag=run)
                seconds = _recognize_all(api, ids)
                if run:  # the first warms the model up
                    rates.append(len(ids) / seconds)
            figures.append(
                Figure(f"cluster: recognitions/s, {workers} worker(s), tiny ViT", "rec/s", rates)
            )
    return figures


def _one_by_one(api: str, ids: list[int]) -> list[float]:
    times = []
    for file_id in ids:
        started = time.perf_counter()
        httpx.post(f"{api}/inference/{file_id}", timeout=120).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def overhead(folder: Path, model: Path, runs: int) -> list[Figure]:
    count = max(10, runs * 4)
    with server(_folder(folder / "inprocess"), HF_MODEL=str(model)) as live:
        ids = _upload(live.url, count + 2, tag=1, size=(640, 480))
        _one_by_one(live.url, ids[:2])  # warm-up
        direct = _one_by_one(live.url, ids[2:])
    with (
        fresh_database() as url,
        _cluster(folder / "queued", url, 1, model) as c,
    ):
        api = c.replicas[0].url or ""
        ids = _upload(api, count + 2, tag=1, size=(640, 480))
        _one_by_one(api, ids[:2])
        queued = _one_by_one(api, ids[2:])
    return [
        Figure("sync 640x480 recognition, ViT-B/16, in-process", "ms", direct),
        Figure("sync 640x480 recognition, ViT-B/16, through the queue", "ms", queued),
    ]


def kills(folder: Path, model: Path) -> tuple[int, int, int]:
    """500 recognitions, a worker SIGKILLed twice; (lost, duplicated, done)."""
    with (
        fresh_database() as url,
        _cluster(folder / "kills", url, 2, model) as c,
    ):
        api = c.replicas[0].url or ""
        ids = _upload(api, 500, tag=9)
        sender = threading.Thread(target=_recognize_all, args=(api, ids))
        sender.start()
        for _ in range(2):
            _kill_one_holding_a_job(c)
            c.start_worker()
        sender.join()
        return _count(c, api, ids)


def _kill_one_holding_a_job(c: Cluster) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for worker in c.workers:
            took, finished = worker.jobs()
            if worker.popen.poll() is None and took - finished:
                worker.kill()
                return
        time.sleep(0.005)


def _count(c: Cluster, api: str, ids: list[int]) -> tuple[int, int, int]:
    # Wait for the last re-picked jobs (a heartbeat timeout), then count.
    deadline = time.monotonic() + 60
    while True:
        found = {f["id"]: f for f in httpx.get(f"{api}/files/", timeout=60).json()}
        done = [i for i in ids if found[i]["status"] == "done"]
        if len(done) == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    lost = len(ids) - len(done)
    duplicated = sum(1 for i in done if len(found[i]["results"]) != 5)
    return lost, duplicated, len(done)


def figures(runs: int) -> tuple[list[Figure], list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tiny, big = folder / "tiny-vit", folder / "vit-b16"
        save_tiny_vit(tiny)
        make_model(big)
        found = throughput(folder, tiny, runs)
        found += overhead(folder, big, runs)
        lost, duplicated, done = kills(folder, tiny)
    one, two = (statistics.median(f.runs) for f in found[:2])
    direct, queued = (statistics.median(f.runs) for f in found[2:4])
    notes = [
        f"cluster: 2 workers / 1 worker recognitions/s = {two / one:.2f}x",
        f"cluster: the queue adds {(queued / direct - 1) * 100:+.1f}% to one synchronous 640x480"
        " recognition (goal <= +10%)",
        f"cluster: 500 recognitions, a worker SIGKILLed twice: {done} done, {lost} lost,"
        f" {duplicated} duplicated (goal 0 and 0)",
    ]
    return found, notes


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
