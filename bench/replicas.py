"""`scripts/bench cluster` (or `cluster-uploads` alone): uploads per second
through 1 and 2 API replicas of a cluster (testkit/cluster.py, real processes on
one PostgreSQL), with the images in SeaweedFS's S3 on loopback against one
shared local folder. Both clusters run side by side and are measured in turns,
run by run, so the ratios come from one run on the same machine."""

from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from itertools import cycle
from pathlib import Path

import httpx2 as httpx

from bench.harness import Figure
from bench.storage import distinct_photos
from testkit.cluster import Cluster, cluster, fresh_database, object_store
from testkit.images import photo_like

PER_RUN = 40
CLIENTS = 4


def _uploads_per_second(urls: list[str], photos: list[bytes]) -> float:
    """CLIENTS clients at once, their uploads spread over `urls` in turn."""

    def send(job: tuple[str, bytes]) -> None:
        url, data = job
        answer = httpx.post(
            f"{url}/upload/", files={"file": ("car.jpg", data, "image/jpeg")}, timeout=120
        )
        answer.raise_for_status()

    jobs = list(zip(cycle(urls), photos, strict=False))
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(send, jobs))
    elapsed = time.perf_counter() - started
    httpx.delete(f"{urls[0]}/files/", timeout=120).raise_for_status()
    return len(photos) / elapsed


def figures(runs: int) -> tuple[list[Figure], list[str]]:
    photo = photo_like(1600, 1200, grain=30, quality=90)
    names = ("folder", "s3")
    rates: dict[tuple[str, int], list[float]] = {(n, r): [] for n in names for r in (1, 2)}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        clusters: dict[str, Cluster] = {}
        for name in names:
            s3 = stack.enter_context(object_store("seaweed" if name == "s3" else "folder"))
            url = stack.enter_context(fresh_database())
            clusters[name] = stack.enter_context(
                cluster(
                    folder / name,
                    url,
                    replicas=2,
                    workers=0,  # uploads only
                    s3=s3,
                    RECOGNIZER="huggingface",  # no model to load
                    LOG_LEVEL="warning",
                )
            )
        for run in range(runs + 1):  # the first is a warm-up
            photos = distinct_photos(photo, PER_RUN, run)
            for replicas in (1, 2):
                for name in names:  # in turns: drift on a shared machine hits both
                    urls = [r.url or "" for r in clusters[name].replicas[:replicas]]
                    rate = _uploads_per_second(urls, photos)
                    if run:
                        rates[name, replicas].append(rate)
    where = {"folder": "a shared local folder", "s3": "SeaweedFS S3"}
    out = [
        Figure(f"cluster uploads, {r} replica(s), {where[n]}", "uploads/s", rates[n, r])
        for r in (1, 2)
        for n in names
    ]
    share = {
        r: [s / f for s, f in zip(rates["s3", r], rates["folder", r], strict=True)] for r in (1, 2)
    }
    scale = {
        n: [two / one for two, one in zip(rates[n, 2], rates[n, 1], strict=True)] for n in names
    }
    out += [Figure(f"  S3 as a share of the folder, {r} replica(s)", "x", share[r]) for r in (1, 2)]
    out += [Figure(f"  2 replicas / 1 replica, {where[n]}", "x", scale[n]) for n in names]
    notes = (
        [
            f"cluster uploads: {PER_RUN} distinct {len(photo) / 1e6:.1f} MB JPEGs per run,"
            f" {CLIENTS} clients, spread over the replicas in turns"
        ]
        + [
            f"cluster uploads, {r} replica(s): S3 (SeaweedFS on loopback) keeps"
            f" {statistics.median(share[r]):.2f}x the shared folder's rate (goal: 0.7x or more)"
            for r in (1, 2)
        ]
        + [
            f"cluster uploads, {where[n]}: 2 replicas give {statistics.median(scale[n]):.2f}x"
            " the rate of 1 (this machine has 2 cores for every process)"
            for n in names
        ]
    )
    return out, notes
