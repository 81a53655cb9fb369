"""`scripts/bench graphql`: what hostile GraphQL documents cost a live server.

Each document is sent once to a fresh `uvicorn server:app` on loopback, timed
with its answer; then GRAPHQL_CLIENTS clients (10) send the attack documents
(GRAPHQL_ATTACK, comma-separated names; default: every document but `plain`)
in a loop for GRAPHQL_SECONDS (10) while one more client asks for `/health`
every 50 ms, and the health latencies are printed; the same load of `plain`
queries first, for comparison. A document that gets no answer in
GRAPHQL_TIMEOUT seconds (30) counts as "no answer", and the server, stuck in
it, is killed and a fresh one started. Numbers are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import aiohttp
from graphql import parse, specified_rules

from bench.harness import header
from config import Settings
from schema import create_schema
from schema.limits import Limits, validate
from testkit.queries import (
    fan_out,
    long_comment,
    many_fragments,
    repeated,
    unused_variables,
    wide_arguments,
    wide_query,
)
from testkit.servers import LiveServer, server

HEALTH_EVERY_S = 0.05


DOCUMENTS: dict[str, Callable[[], str]] = {
    "plain": lambda: "{ stats { totalFiles processedFiles } }",
    "fanout18": lambda: fan_out(18),
    "fanout20": lambda: fan_out(20),
    "fanout22": lambda: fan_out(22),
    "fanout30": lambda: fan_out(30),
    "repeat500": lambda: repeated(500),
    "repeat1000": lambda: repeated(1000),
    "fragments20": lambda: many_fragments(20),
    "variables1200": lambda: unused_variables(1200),
    "comment1mb": lambda: long_comment(1000),
    "wide": wide_query,
    "wideArguments": wide_arguments,
}


def _answer(status: int, body: bytes) -> str:
    """What the client got, in a few words: the first error, or the data's keys."""
    try:
        data = json.loads(body)
    except ValueError:
        return f"{status} {body[:80]!r}"
    if not isinstance(data, dict):
        return f"{status} {str(data)[:80]}"
    errors = data.get("errors") or []
    if errors:
        code = (errors[0].get("extensions") or {}).get("code", "-")
        return f"{status} {code}: {errors[0]['message'][:90]}"
    return f"{status} data: {', '.join(list(data.get('data') or {})[:3])}"


async def _post(
    session: aiohttp.ClientSession, url: str, query: str, wait_s: float
) -> tuple[float, str]:
    started = time.perf_counter()
    async with session.post(
        f"{url}/graphql",
        json={"query": query},
        timeout=aiohttp.ClientTimeout(total=wait_s),
    ) as response:
        body = await response.read()
    return (time.perf_counter() - started) * 1000, _answer(response.status, body)


@contextmanager
def _fresh_server(folder: Path) -> Iterator[LiveServer]:
    with server(folder) as live:
        try:
            yield live
        finally:
            # A server stuck in validation does not stop on SIGTERM (the
            # harness's way); one that would not answer is killed outright.
            with suppress(ProcessLookupError):
                os.kill(live.pid, signal.SIGKILL)


async def _one_each(url: str, names: list[str], wait_s: float) -> tuple[list[str], bool]:
    """Each document once; stops at the first one that gets no answer (the
    server is then stuck), reporting it."""
    rows = []
    async with aiohttp.ClientSession() as session:
        for name in names:
            query = DOCUMENTS[name]()
            try:
                ms, answer = await _post(session, url, query, wait_s)
            except TimeoutError:
                rows.append(f"{name:<14} {len(query):>8} B  no answer in {wait_s:.0f} s")
                return rows, False
            rows.append(f"{name:<14} {len(query):>8} B  {ms:>9.1f} ms  {answer}")
    return rows, True


async def _attack(url: str, names: list[str], clients: int, seconds: float) -> list[str]:
    queries = [DOCUMENTS[name]() for name in names]
    health: list[float] = []
    answered = failed = 0
    stop = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=seconds + 30)

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=clients + 2), timeout=timeout
    ) as session:

        async def attacker(index: int) -> None:
            nonlocal answered, failed
            turn = index
            while time.monotonic() < stop:
                try:
                    await _post(session, url, queries[turn % len(queries)], seconds + 30)
                    answered += 1
                except (aiohttp.ClientError, TimeoutError):
                    failed += 1
                turn += 1

        async def prober() -> None:
            await asyncio.sleep(0.5)  # let the attack start
            while time.monotonic() < stop:
                started = time.perf_counter()
                try:
                    async with session.get(f"{url}/health") as response:
                        await response.read()
                    health.append((time.perf_counter() - started) * 1000)
                except (aiohttp.ClientError, TimeoutError):
                    health.append(float("inf"))
                await asyncio.sleep(HEALTH_EVERY_S)

        await asyncio.gather(prober(), *(attacker(i) for i in range(clients)))
    if not health:
        return ["  /health: no answer during the attack"]
    ordered = sorted(health)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return [
        f"  attack documents answered: {answered} ({answered / seconds:.1f}/s), failed: {failed}",
        f"  /health latency over {len(health)} probes: median {statistics.median(health):.1f} ms,"
        f" p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms",
    ]


def _in_process(names: list[str], runs: int) -> list[str]:
    """Parse, limits, and graphql-core's validation of each document, timed in
    this process (the median of `runs`), with the first error."""
    settings = Settings(_env_file=None)
    schema = create_schema(settings)
    limits = Limits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_selections=settings.graphql_max_selections,
        max_fragment_spreads=settings.graphql_max_fragment_spreads,
        max_repeats=settings.graphql_max_repeated_fields,
    )
    rows = []
    for name in names:
        query = DOCUMENTS[name]()
        if len(query) > settings.graphql_max_document_kb * 1024:
            rows.append(f"{name:<14} {len(query):>8} B  refused for its length, unparsed")
            continue
        parse_ms, check_ms = [], []
        for _ in range(runs):
            started = time.perf_counter()
            document = parse(query, max_tokens=settings.graphql_max_tokens)
            parsed = time.perf_counter()
            errors = validate(schema._schema, document, tuple(specified_rules), limits)
            parse_ms.append((parsed - started) * 1000)
            check_ms.append((time.perf_counter() - parsed) * 1000)
        first = errors[0].message[:60] if errors else "valid"
        rows.append(
            f"{name:<14} {len(query):>8} B  parse {statistics.median(parse_ms):5.1f} ms"
            f"  limits + validation {statistics.median(check_ms):5.1f} ms  {first}"
        )
    return rows


def main() -> int:
    timeout = float(os.environ.get("GRAPHQL_TIMEOUT", "30"))
    clients = int(os.environ.get("GRAPHQL_CLIENTS", "10"))
    seconds = float(os.environ.get("GRAPHQL_SECONDS", "10"))
    hostile = [name for name in DOCUMENTS if name != "plain"]
    attack = os.environ.get("GRAPHQL_ATTACK", ",".join(hostile)).split(",")
    print(header())
    print(f"load average: {os.getloadavg()[0]:.1f} (other work on this machine slows every figure)")
    print("\nin process, the median of 5 (what the worker thread does per request):\n")
    print("\n".join(_in_process(list(DOCUMENTS), 5)))
    print("\none request each (POST /graphql on a fresh server, empty collection):\n")
    print(f"{'document':<14} {'size':>10}  {'time':>12}  answer")
    with tempfile.TemporaryDirectory() as tmp:
        pending = list(DOCUMENTS)
        while pending:
            with _fresh_server(Path(tmp)) as live:
                rows, finished = asyncio.run(_one_each(live.url, pending, timeout))
                print("\n".join(rows), flush=True)
                pending = pending[len(rows) :]
                if not finished:
                    print(f"{'':<14} (server killed: it was stuck; the rest on a fresh one)")
        # The same load of plain queries first: what /health gets from honest traffic.
        for names in (["plain"], attack):
            print(f"\n{clients} clients sending {', '.join(names)} for {seconds:.0f} s:")
            with _fresh_server(Path(tmp)) as live:
                lines = asyncio.run(_attack(live.url, names, clients, seconds))
                print("\n".join(lines))
                print(f"  server peak memory: {live.peak_rss_mb():.0f} MB", flush=True)
    return 0
