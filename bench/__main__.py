"""`python -m bench`: uploads against the disk, and queries as the collection grows."""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
from PIL import Image

from bench.collection import grow
from bench.harness import Figure, header, repeat, server

MB = 1024 * 1024
FILES_QUERY = "{ files(first: 50) { totalCount edges { node { databaseId filename status predictions { label confidence make } } } } }"


def one_megabyte_jpeg() -> bytes:
    side = 945  # random pixels barely compress: about 1 MB at quality 95
    img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def disk_write(folder: Path, data: bytes, count: int) -> float:
    """MB/s writing each file and fsyncing it: the floor any upload path pays."""
    start = time.perf_counter()
    for i in range(count):
        with open(folder / f"{i}.bin", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return len(data) * count / MB / (time.perf_counter() - start)


def rest_uploads(client: httpx.Client, data: bytes, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        r = client.post("/upload/", files={"file": (f"{i}.jpg", data, "image/jpeg")})
        r.raise_for_status()
    return count / (time.perf_counter() - start)


def graphql_uploads(client: httpx.Client, data: bytes, count: int) -> float:
    operations = json.dumps(
        {
            "query": "mutation($f: Upload!) { uploadFile(file: $f) { file { databaseId } errors { message } } }",
            "variables": {"f": None},
        }
    )
    start = time.perf_counter()
    for i in range(count):
        r = client.post(
            "/graphql",
            data={"operations": operations, "map": '{"0": ["variables.f"]}'},
            files={"0": (f"{i}.jpg", data, "image/jpeg")},
            headers={"Apollo-Require-Preflight": "true"},
        )
        r.raise_for_status()
        assert not r.json()["data"]["uploadFile"]["errors"]
    return count / (time.perf_counter() - start)


def timed_ms(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def scale_figures(client: httpx.Client, size: int, runs: int) -> list[Figure]:
    def files_page() -> float:
        return timed_ms(
            lambda: client.post("/graphql", json={"query": FILES_QUERY}).raise_for_status()
        )

    def rest_listing() -> float:
        return timed_ms(lambda: client.get("/files/").raise_for_status())

    return [
        Figure(
            f"GraphQL files(first: 50) + predictions, {size:,} files",
            "ms",
            repeat(runs * 4, files_page),
        ),
        Figure(
            f"REST GET /files/ (every file), {size:,} files",
            "ms",
            repeat(max(3, runs // 2), rest_listing),
        ),
    ]


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "5"))
    sizes = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
    print(header())
    print(f"median of {runs} runs after a warm-up; ± is half the range as % of the median\n")
    figures: list[Figure] = []
    data = one_megabyte_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "disk").mkdir()
        figures.append(
            Figure(
                "disk: write + fsync 1 MB files",
                "MB/s",
                repeat(runs, lambda: disk_write(folder / "disk", data, 20)),
            )
        )
        with server(folder) as live, httpx.Client(base_url=live.url, timeout=60) as client:
            rest = repeat(runs, lambda: rest_uploads(client, data, 20))
            figures.append(Figure("REST POST /upload/, 1 MB JPEG, one client", "uploads/s", rest))
            figures.append(
                Figure(
                    "REST POST /upload/, 1 MB JPEG, one client",
                    "MB/s",
                    [r * len(data) / MB for r in rest],
                )
            )
            gql = repeat(runs, lambda: graphql_uploads(client, data, 20))
            figures.append(Figure("GraphQL uploadFile, 1 MB JPEG, one client", "uploads/s", gql))
            client.delete("/files/")
        database_url = f"sqlite+aiosqlite:///{folder / 'scale.db'}"
        have = 0
        for size in sizes:
            grow(database_url, to=size, have=have)
            have = size
            with (
                server(folder, DATABASE_URL=database_url) as live,
                httpx.Client(base_url=live.url, timeout=120) as client,
            ):
                figures += scale_figures(client, size, runs)
            print("\n".join(f.row() for f in figures[-2:]), file=sys.stderr)
    print(f"{'figure':<58} {'median':>10} {'unit':<10} spread")
    for figure in figures:
        print(figure.row())


if __name__ == "__main__":
    main()
