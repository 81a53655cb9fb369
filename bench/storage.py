"""Uploads per second into a local folder against SeaweedFS's S3 on loopback:
the same server, the same photos, only STORAGE_URL differs. Each run uploads
distinct photos (so every one is a new object), one client at a time and four
at once; the S3 share is taken run by run."""

from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

from bench.harness import Figure
from testkit.images import photo_like
from testkit.s3 import ACCESS_KEY, REGION, SECRET_KEY, SeaweedS3
from testkit.servers import server

PER_RUN = 40


def distinct_photos(photo: bytes, count: int, run: int) -> list[bytes]:
    """`count` copies of a JPEG made distinct by a comment segment after SOI."""
    out = []
    for i in range(count):
        note = f"bench run {run} photo {i}".encode()
        out.append(photo[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + photo[2:])
    return out


def _uploads_per_second(url: str, photos: list[bytes], clients: int) -> float:
    def send(data: bytes) -> None:
        response = httpx.post(
            f"{url}/upload/", files={"file": ("car.jpg", data, "image/jpeg")}, timeout=120
        )
        response.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, photos))
    elapsed = time.perf_counter() - started
    httpx.delete(f"{url}/files/", timeout=120).raise_for_status()
    return len(photos) / elapsed


def figures(runs: int) -> tuple[list[Figure], list[str]]:
    photo = photo_like(1600, 1200, grain=30, quality=90)
    weed = SeaweedS3()
    weed.start()
    out: list[Figure] = []
    notes: list[str] = []
    try:
        bucket = weed.new_bucket()
        s3_env = {
            "STORAGE_URL": f"s3://{bucket}/bench",
            "S3_ENDPOINT_URL": weed.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "local").mkdir()
            (folder / "s3").mkdir()
            with (
                server(folder / "local", RECOGNIZER="huggingface", LOG_LEVEL="warning") as local,
                server(
                    folder / "s3", RECOGNIZER="huggingface", LOG_LEVEL="warning", **s3_env
                ) as s3,
            ):
                for clients in (1, 4):
                    rates: dict[str, list[float]] = {"local": [], "s3": []}
                    for run in range(runs + 1):  # the first is a warm-up
                        photos = distinct_photos(photo, PER_RUN, run)
                        # Alternate, so drift on a shared machine hits both alike.
                        for name, live in (("local", local), ("s3", s3)):
                            rate = _uploads_per_second(live.url, photos, clients)
                            if run:
                                rates[name].append(rate)
                    share = [s / loc for s, loc in zip(rates["s3"], rates["local"], strict=True)]
                    size = f"{len(photo) / 1e6:.1f} MB JPEG, {clients} client(s)"
                    out += [
                        Figure(f"uploads to the local folder, {size}", "uploads/s", rates["local"]),
                        Figure(f"uploads to SeaweedFS S3, {size}", "uploads/s", rates["s3"]),
                        Figure("  S3 as a share of the local folder", "x", share),
                    ]
                    notes.append(
                        f"storage, {clients} client(s): S3 (SeaweedFS on loopback) keeps"
                        f" {statistics.median(share):.2f}x the local folder's upload rate (goal: 0.7x or more)"
                    )
    finally:
        weed.stop()
    return out, notes
