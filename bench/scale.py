"""The API around the model as the collection grows: the whole REST listing, a
page of files with their predictions, the statistics and the whole CSV export.

The listing and the statistics are measured beside the original service (see
bench/original.py: its metadata JSON file loaded with json.load and answered
through a JSON response), written from the same collection and running at the
same time, the two measured in turns so that both see the same machine.

This server runs on SQLite, or on PostgreSQL when BENCH_DATABASE_URL names a
server (postgresql+asyncpg://user@host/any): a fresh database is made there for
the run and dropped after it."""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx2 as httpx
from sqlalchemy.engine import make_url

from bench.harness import Figure, repeat
from bench.original import write_metadata
from testkit.collection import grow
from testkit.servers import server

FILES_QUERY = (
    "{ files(first: 50) { totalCount edges { node { databaseId filename status "
    "predictions { label confidence make } } } } }"
)
# Measured on both: (figure name, path)
COMPARED = (
    ("GET /files/ (every file)", "/files/"),
    ("GET /visualization/stats", "/visualization/stats"),
)


def _ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _get(client: httpx.Client, path: str) -> Callable[[], object]:
    return lambda: client.get(path).raise_for_status()


def _csv(client: httpx.Client) -> None:
    with client.stream("GET", "/visualization/export/csv?status=all") as response:
        response.raise_for_status()
        for _ in response.iter_bytes():
            pass


def _in_turns(
    runs: int, first: Callable[[], object], second: Callable[[], object]
) -> tuple[list[float], list[float]]:
    """Each measured `runs` times after a warm-up, alternating, so that a busy
    moment of the machine falls on both alike."""
    first(), second()
    a, b = [], []
    for _ in range(runs):
        a.append(_ms(first))
        b.append(_ms(second))
    return a, b


@contextmanager
def _database(folder: Path) -> Iterator[str]:
    """A SQLite file in `folder`, or a fresh database on BENCH_DATABASE_URL's server."""
    server_url = os.environ.get("BENCH_DATABASE_URL")
    if not server_url:
        yield f"sqlite+aiosqlite:///{folder / 'scale.db'}"
        return
    url = make_url(server_url)
    name = f"cars_bench_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _settle(database_url: str) -> None:
    """On PostgreSQL, what autovacuum does within a minute of a bulk load:
    statistics for the planner, and the visibility map that index-only scans
    need. Measured before it, `stats` at 100,000 files reads every row's heap."""
    if not database_url.startswith("postgresql"):
        return
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()

    asyncio.run(run())


def figures(runs: int, sizes: list[int]) -> tuple[list[Figure], list[str]]:
    out: list[Figure] = []
    by_name: dict[str, list[tuple[int, float]]] = {}
    compared: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, _database(Path(tmp)) as database_url:
        folder = Path(tmp)
        backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        metadata = folder / "metadata.json"
        have = 0
        for size in sizes:
            grow(database_url, to=size, have=have)  # rows written straight into the database
            have_before, have = have, size
            with (
                server(folder, DATABASE_URL=database_url, RECOGNIZER="huggingface") as live,
                httpx.Client(base_url=live.url, timeout=600) as ours,
            ):
                # The first listing after rows were written straight into the
                # database renders and keeps each new file (db/listing.py).
                started = time.perf_counter()
                answer = ours.get("/files/")
                first = (time.perf_counter() - started) * 1000
                answer.raise_for_status()
                out.append(
                    Figure(
                        f"GET /files/, first after {size - have_before:,} new files", "ms", [first]
                    )
                )
                write_metadata(answer.json(), metadata)
                _settle(database_url)
                with (
                    server(folder, app="bench.original:app", METADATA_FILE=str(metadata)) as old,
                    httpx.Client(base_url=old.url, timeout=600) as original,
                ):
                    for name, path in COMPARED:
                        then, now = _in_turns(runs, _get(original, path), _get(ours, path))
                        out.append(Figure(f"{name}, original, {size:,} files", "ms", then))
                        out.append(Figure(f"{name}, this server, {size:,} files", "ms", now))
                        by_name.setdefault(name, []).append((size, statistics.median(now)))
                        ratio = statistics.median(then) / statistics.median(now)
                        compared.append(
                            f"{name}, {size:,} files: original {statistics.median(then):.1f} ms,"
                            f" this server {statistics.median(now):.1f} ms:"
                            f" {ratio:.1f}x {'faster' if ratio >= 1 else 'as fast'}"
                        )
                    rss = f"peak RSS: original {old.peak_rss_mb():.0f} MB, this server {live.peak_rss_mb():.0f} MB"
                    compared.append(f"  after those requests at {size:,} files, {rss}")
                measured = {
                    "GraphQL files(first: 50) with predictions": repeat(
                        runs * 2,
                        lambda: _ms(
                            lambda: ours.post(
                                "/graphql", json={"query": FILES_QUERY}
                            ).raise_for_status()
                        ),
                    ),
                    "CSV export of every file": repeat(
                        max(2, runs // 2), lambda: _ms(lambda: _csv(ours))
                    ),
                }
            for name, runs_ms in measured.items():
                out.append(Figure(f"{name}, {size:,} files", "ms", runs_ms))
                by_name.setdefault(name, []).append((size, statistics.median(runs_ms)))
    growth = [f"original (JSON file) vs this server ({backend}), measured in turns in one run:"]
    growth += compared
    for name, points in by_name.items():
        steps = ", ".join(
            f"x{b[1] / a[1]:.1f} from {a[0]:,} to {b[0]:,}" for a, b in itertools.pairwise(points)
        )
        if steps:
            growth.append(f"{name} (this server): {steps}")
    return out, growth
