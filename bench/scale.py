"""The API around the model as the collection grows: a page of files with
their predictions, the statistics, and the whole CSV export."""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx

from bench.collection import grow
from bench.harness import Figure, repeat, server

FILES_QUERY = (
    "{ files(first: 50) { totalCount edges { node { databaseId filename status "
    "predictions { label confidence make } } } } }"
)


def _ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _csv(client: httpx.Client) -> None:
    with client.stream("GET", "/visualization/export/csv?status=all") as response:
        response.raise_for_status()
        for _ in response.iter_bytes():
            pass


def figures(runs: int, sizes: list[int]) -> tuple[list[Figure], list[str]]:
    out: list[Figure] = []
    by_name: dict[str, list[tuple[int, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database_url = f"sqlite+aiosqlite:///{folder / 'scale.db'}"
        have = 0
        for size in sizes:
            grow(database_url, to=size, have=have)  # rows written straight into the database
            have = size
            with (
                server(folder, DATABASE_URL=database_url, RECOGNIZER="huggingface") as live,
                httpx.Client(base_url=live.url, timeout=600) as client,
            ):
                measured = {
                    "GraphQL files(first: 50) with predictions": repeat(
                        runs * 2,
                        lambda: _ms(
                            lambda: client.post(
                                "/graphql", json={"query": FILES_QUERY}
                            ).raise_for_status()
                        ),
                    ),
                    "GraphQL stats / GET /visualization/stats": repeat(
                        runs,
                        lambda: _ms(lambda: client.get("/visualization/stats").raise_for_status()),
                    ),
                    "CSV export of every file": repeat(
                        max(2, runs // 2), lambda: _ms(lambda: _csv(client))
                    ),
                }
            for name, runs_ms in measured.items():
                out.append(Figure(f"{name}, {size:,} files", "ms", runs_ms))
                by_name.setdefault(name, []).append((size, statistics.median(runs_ms)))
    growth = []
    for name, points in by_name.items():
        steps = ", ".join(
            f"x{b[1] / a[1]:.1f} from {a[0]:,} to {b[0]:,}" for a, b in itertools.pairwise(points)
        )
        growth.append(f"{name}: {steps}")
    return out, growth
