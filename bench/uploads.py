"""Uploads over REST and GraphQL multipart against writing the same bytes to
disk, and the server's peak memory under 20 concurrent 10 MB uploads."""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

from bench.harness import Figure, repeat
from testkit.images import photo_like
from testkit.servers import server

MB = 1024 * 1024
_OPERATIONS = json.dumps(
    {
        "query": "mutation($f: Upload!) { uploadFile(file: $f) { file { databaseId } errors { message } } }",
        "variables": {"f": None},
    }
)


def _disk(folder: Path, data: bytes, count: int) -> float:
    """MB/s writing each file and fsyncing it: the floor any upload path pays."""
    started = time.perf_counter()
    for i in range(count):
        with open(folder / f"{i}.bin", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return len(data) * count / MB / (time.perf_counter() - started)


def _rest(client: httpx.Client, data: bytes, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        client.post("/upload/", files={"file": (f"{i}.jpg", data, "image/jpeg")}).raise_for_status()
    return len(data) * count / MB / (time.perf_counter() - started)


def _graphql(client: httpx.Client, data: bytes, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        response = client.post(
            "/graphql",
            data={"operations": _OPERATIONS, "map": '{"0": ["variables.f"]}'},
            files={"0": (f"{i}.jpg", data, "image/jpeg")},
            headers={"Apollo-Require-Preflight": "true"},
        )
        response.raise_for_status()
        assert not response.json()["data"]["uploadFile"]["errors"], response.text
    return len(data) * count / MB / (time.perf_counter() - started)


def _about(size: int, width: int, height: int) -> bytes:
    """A photo-like JPEG just under `size` bytes (the upload limit is 10 MiB)."""
    for quality in range(97, 60, -3):
        data = photo_like(width, height, grain=40, quality=quality)
        if len(data) <= size:
            return data
    raise ValueError("no quality gives that size")


def figures(runs: int) -> list[Figure]:
    photos = {
        "1 MB JPEG": _about(1 * MB, 1200, 900),
        "10 MB JPEG": _about(int(9.8 * MB), 4000, 3000),
    }
    out: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "disk").mkdir()
        with (
            server(folder, RECOGNIZER="huggingface") as live,
            httpx.Client(base_url=live.url, timeout=120) as client,
        ):
            for name, data in photos.items():
                count = 20 if len(data) < 2 * MB else 5
                size = f"{name} ({len(data) / MB:.1f} MB)"
                disk = repeat(runs, lambda: _disk(folder / "disk", data, count))
                rest = repeat(runs, lambda: _rest(client, data, count))
                gql = repeat(runs, lambda: _graphql(client, data, count))
                out += [
                    Figure(f"disk: write + fsync, {size}", "MB/s", disk),
                    Figure(f"REST POST /upload/, {size}", "MB/s", rest),
                    Figure("  uploads per second", "uploads/s", [r * MB / len(data) for r in rest]),
                    Figure(f"GraphQL uploadFile, {size}", "MB/s", gql),
                    Figure("  uploads per second", "uploads/s", [g * MB / len(data) for g in gql]),
                    Figure(
                        "  REST as a share of the disk's speed",
                        "%",
                        [100 * r / d for r, d in zip(rest, disk, strict=False)],
                    ),
                ]
                client.delete("/files/").raise_for_status()
            # Memory: 20 clients each sending a 10 MB photo at once.
            data = photos["10 MB JPEG"]
            before = live.peak_rss_mb()
            with ThreadPoolExecutor(20) as pool:
                codes = list(
                    pool.map(
                        lambda i: (
                            httpx.post(
                                f"{live.url}/upload/",
                                files={"file": (f"c{i}.jpg", data, "image/jpeg")},
                                timeout=300,
                            ).status_code
                        ),
                        range(20),
                    )
                )
            assert codes == [200] * 20, codes
            out.append(Figure("server peak memory, idle", "MB", [before]))
            out.append(
                Figure(
                    "server peak memory, 20 concurrent 10 MB uploads", "MB", [live.peak_rss_mb()]
                )
            )
    return out
