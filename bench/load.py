"""The load test: LOAD_CLIENTS clients (100 by default) for LOAD_SECONDS (60)
against the real server on loopback, mixing uploads, listings, GraphQL queries,
recognitions on a tiny model and deletes. It prints requests per second and
latency percentiles per operation, the 5xx answers and the uploads lost (both
must be 0), and the server's peak memory. Not a figure of the suite: it runs
only when named (`scripts/bench load`), and exits non-zero when anything failed
(see `failures`)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image, ImageDraw

from bench.harness import header
from recognition.local import resolve_engine
from testkit.models import save_tiny_vit
from testkit.servers import LiveServer, server

# A share of uploads re-sends bytes from this small pool, shared by every client:
# identical bytes are two files over one stored image, which goes only with the
# last file using it. Deleting one while another client uploads the same bytes is
# the race most likely to lose an upload, so the load exercises it on purpose.
DUPLICATE_SHARE = 0.1
DUPLICATE_POOL = 8
# Answers nobody waits for this long are counted as lost requests, not latencies.
REQUEST_TIMEOUT_S = 120
# Requests in flight while the survivors are checked after the load.
CHECK_CONCURRENCY = 20
# Failures described in full at the end; the rest are only counted.
NOTES_KEPT = 20

FILES_QUERY = """query {
  files(first: 20) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id databaseId filename status width height imageUrl
                   predictions { label confidence make model year } } }
  }
}"""
STATS_QUERY = """query {
  stats {
    totalFiles processedFiles unprocessedFiles
    byStatus { status count }
    topBrands { label count }
    topMakes { make count }
    confidenceHistogram { low high count }
    lowConfidenceCount meanInferenceMs
  }
}"""
END_QUERY = "query { files(first: 0) { totalCount } stats { byStatus { status count } } }"
UPLOAD_MUTATION = """mutation($files: [Upload!]!) {
  uploadFiles(files: $files) { files { databaseId sha256 } errors { code message index } }
}"""
INFER_MUTATION = """mutation($id: ID!) {
  inferFile(id: $id) {
    file { status topPrediction { label confidence make model year } }
    errors { code message }
  }
}"""
DELETE_MUTATION = """mutation($id: ID!) {
  deleteFile(id: $id) { deletedId errors { code message } }
}"""


@dataclass
class Tally:
    """What one operation met: the latency of each answer (ms), the status codes,
    requests that got no answer at all, and answers that were 2xx yet reported an
    error (a GraphQL error, a payload error, a body not as documented)."""

    latencies: list[float] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0
    errors: int = 0

    def count(self, low: int, high: int) -> int:
        return sum(n for code, n in self.codes.items() if low <= code < high)


@dataclass
class Load:
    """What all clients share. One event loop runs them, so no locks."""

    session: aiohttp.ClientSession
    url: str
    tallies: dict[str, Tally]
    # Every upload the server accepted and the load has not deleted: id → sha256
    # of the bytes sent. Each must still be there, byte for byte, at the end.
    kept: dict[int, str] = field(default_factory=dict)
    duplicates: list[bytes] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    serial: int = 0

    def note(self, line: str) -> None:
        if len(self.notes) < NOTES_KEPT:
            self.notes.append(line)


@dataclass
class Client:
    """One simulated user. It touches only files it uploaded itself, so a 404 on
    one of them is a bug, never another client's delete winning a race."""

    rng: random.Random
    mine: list[int] = field(default_factory=list)
    unrecognized: set[int] = field(default_factory=set)

    def keep(self, load: Load, file_id: int, sha256: str) -> None:
        load.kept[file_id] = sha256
        self.mine.append(file_id)
        self.unrecognized.add(file_id)

    def forget(self, load: Load, file_id: int) -> None:
        load.kept.pop(file_id, None)
        self.mine.remove(file_id)
        self.unrecognized.discard(file_id)

    def to_recognize(self) -> int:
        """A file not recognized yet, so the model really runs; else any of mine
        (answered from the stored results)."""
        if self.unrecognized:
            return self.rng.choice(sorted(self.unrecognized))
        return self.rng.choice(self.mine)


def small_jpeg(rng: random.Random, serial: int) -> bytes:
    """A small real JPEG, different each time: a random size and colours, and the
    serial number stamped as black and white squares, so no two share a sha256
    (the server would reuse one's recognition for the other). Flat colour keeps
    the load generator, which shares the CPUs with the server, cheap."""
    width, height = rng.randint(96, 400), rng.randint(96, 300)
    image = Image.new("RGB", (width, height), _colour(rng))
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        (rng.randrange(width // 2), rng.randrange(height // 2), width - 1, height - 1),
        fill=_colour(rng),
    )
    for bit in range(24):
        shade = 255 if serial >> bit & 1 else 0
        draw.rectangle((bit * 4, 0, bit * 4 + 3, 3), fill=(shade, shade, shade))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _photo(load: Load, rng: random.Random) -> bytes:
    if rng.random() < DUPLICATE_SHARE:
        return rng.choice(load.duplicates)
    load.serial += 1
    return small_jpeg(rng, load.serial)


async def _request(
    load: Load, op: str, method: str, path: str, **kwargs: Any
) -> tuple[int, bytes] | None:
    """One timed request; the latency covers the whole answer, body included.
    None when no answer came (refused, reset, timed out)."""
    tally = load.tallies[op]
    started = time.perf_counter()
    try:
        async with load.session.request(method, load.url + path, **kwargs) as response:
            body = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.no_answer += 1
        load.note(f"{op}: no answer: {exc!r}")
        return None
    tally.latencies.append((time.perf_counter() - started) * 1000)
    tally.codes[response.status] += 1
    if response.status >= 400:
        load.note(f"{op} {method} {path}: {response.status} {body[:300]!r}")
    return response.status, body


async def _rest(load: Load, op: str, method: str, path: str, **kwargs: Any) -> Any:
    """A REST call's JSON on 2xx, else None (the status is already counted)."""
    answer = await _request(load, op, method, path, **kwargs)
    if answer is None or not 200 <= answer[0] < 300:
        return None
    return _json(load, op, answer[1])


async def _graphql(
    load: Load, op: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """A GraphQL query's `data`, or None. GraphQL answers 200 even when a
    resolver raised, so top-level `errors` are counted here as the errors they are."""
    payload = json.dumps({"query": query, "variables": variables or {}})
    answer = await _request(
        load, op, "POST", "/graphql", data=payload, headers={"Content-Type": "application/json"}
    )
    return _graphql_data(load, op, answer)


def _graphql_data(load: Load, op: str, answer: tuple[int, bytes] | None) -> dict[str, Any] | None:
    if answer is None or answer[0] != 200:
        return None
    body = _json(load, op, answer[1])
    if not isinstance(body, dict) or body.get("errors") or not isinstance(body.get("data"), dict):
        load.tallies[op].errors += 1
        load.note(f"{op}: GraphQL errors: {answer[1][:300]!r}")
        return None
    data: dict[str, Any] = body["data"]
    return data


def _json(load: Load, op: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        load.tallies[op].errors += 1
        load.note(f"{op}: not JSON: {body[:300]!r}")
        return None


def _payload_ok(load: Load, op: str, payload: Any) -> bool:
    """A mutation payload with an empty `errors` list: every input went through."""
    if isinstance(payload, dict) and payload.get("errors") == []:
        return True
    load.tallies[op].errors += 1
    load.note(f"{op}: payload errors: {str(payload)[:300]}")
    return False


# --- the operations; each takes the shared state and the client it runs for ---


async def rest_upload(load: Load, me: Client) -> None:
    photo = _photo(load, me.rng)
    form = aiohttp.FormData()
    form.add_field("file", photo, filename=f"car-{load.serial}.jpg", content_type="image/jpeg")
    op = "REST upload"
    body = await _rest(load, op, "POST", "/upload/", data=form)
    if body is None:
        return
    try:
        file_id = int(body["files"][0]["id"])
    except (KeyError, IndexError, TypeError, ValueError):
        load.tallies[op].errors += 1
        load.note(f"{op}: no file id in {str(body)[:300]}")
        return
    me.keep(load, file_id, hashlib.sha256(photo).hexdigest())


async def graphql_upload(load: Load, me: Client) -> None:
    """uploadFiles with one to three photos, as a multipart-spec request. The
    preflight header is what a real client (apollo-upload-client) sends: without
    it the CSRF guard refuses any multipart POST to /graphql."""
    photos = [_photo(load, me.rng) for _ in range(me.rng.randint(1, 3))]
    form = aiohttp.FormData()
    variables = {"files": [None] * len(photos)}
    form.add_field("operations", json.dumps({"query": UPLOAD_MUTATION, "variables": variables}))
    form.add_field(
        "map", json.dumps({str(i): [f"variables.files.{i}"] for i in range(len(photos))})
    )
    for i, photo in enumerate(photos):
        form.add_field(str(i), photo, filename=f"car-{i}.jpg", content_type="image/jpeg")
    op = "GraphQL uploadFiles"
    answer = await _request(
        load, op, "POST", "/graphql", data=form, headers={"Apollo-Require-Preflight": "true"}
    )
    data = _graphql_data(load, op, answer)
    if data is None:
        return
    payload = data["uploadFiles"]
    # Files refused are reported by index; those stored come in the order sent,
    # and must be kept track of even when another file of the request was refused.
    refused = set() if _payload_ok(load, op, payload) else {e["index"] for e in payload["errors"]}
    accepted = [photo for i, photo in enumerate(photos) if i not in refused]
    if len(payload["files"]) != len(accepted):
        load.tallies[op].errors += 1
        load.note(
            f"{op}: sent {len(photos)} files, refused {refused}, {len(payload['files'])} stored"
        )
    for node, photo in zip(payload["files"], accepted, strict=False):
        me.keep(load, int(node["databaseId"]), hashlib.sha256(photo).hexdigest())


async def rest_list(load: Load, me: Client) -> None:
    await _rest(load, "REST GET /files/", "GET", "/files/")


async def rest_get(load: Load, me: Client) -> None:
    await _rest(load, "REST GET /files/{id}", "GET", f"/files/{me.rng.choice(me.mine)}")


async def rest_image(load: Load, me: Client) -> None:
    file_id = me.rng.choice(me.mine)
    answer = await _request(load, "REST GET image", "GET", f"/files/{file_id}/image")
    if answer is None or answer[0] != 200:
        return
    if hashlib.sha256(answer[1]).hexdigest() != load.kept[file_id]:
        load.tallies["REST GET image"].errors += 1
        load.note(f"REST GET image: file {file_id} does not hold the bytes sent")


async def graphql_files(load: Load, me: Client) -> None:
    await _graphql(load, "GraphQL files(first: 20)", FILES_QUERY)


async def graphql_stats(load: Load, me: Client) -> None:
    await _graphql(load, "GraphQL stats", STATS_QUERY)


async def rest_infer(load: Load, me: Client) -> None:
    file_id = me.to_recognize()
    op = "REST POST /inference/{id}"
    body = await _rest(load, op, "POST", f"/inference/{file_id}")
    if body is None:
        return
    if body.get("status") != "done" or not body.get("predictions"):
        load.tallies[op].errors += 1
        load.note(f"{op}: file {file_id} not recognized: {str(body)[:300]}")
    me.unrecognized.discard(file_id)


async def graphql_infer(load: Load, me: Client) -> None:
    file_id = me.to_recognize()
    op = "GraphQL inferFile"
    data = await _graphql(load, op, INFER_MUTATION, {"id": str(file_id)})
    if data is not None and _payload_ok(load, op, data["inferFile"]):
        me.unrecognized.discard(file_id)


async def rest_delete(load: Load, me: Client) -> None:
    file_id = me.rng.choice(me.mine)
    if await _rest(load, "REST DELETE /files/{id}", "DELETE", f"/files/{file_id}") is not None:
        me.forget(load, file_id)


async def graphql_delete(load: Load, me: Client) -> None:
    file_id = me.rng.choice(me.mine)
    op = "GraphQL deleteFile"
    data = await _graphql(load, op, DELETE_MUTATION, {"id": str(file_id)})
    if data is not None and _payload_ok(load, op, data["deleteFile"]):
        me.forget(load, file_id)


Operation = Callable[[Load, Client], Awaitable[None]]
# name → (the operation, its weight in the mix, whether it needs a file of the
# client's own). Uploads 25, listings and reads 20, GraphQL queries 25,
# recognitions 20, deletes 10. GET /files/ lists the whole collection, which
# grows during the run, so it keeps a modest share.
MIX: dict[str, tuple[Operation, int, bool]] = {
    "REST upload": (rest_upload, 15, False),
    "GraphQL uploadFiles": (graphql_upload, 10, False),
    "REST GET /files/": (rest_list, 5, False),
    "REST GET /files/{id}": (rest_get, 10, True),
    "REST GET image": (rest_image, 5, True),
    "GraphQL files(first: 20)": (graphql_files, 15, False),
    "GraphQL stats": (graphql_stats, 10, False),
    "REST POST /inference/{id}": (rest_infer, 10, True),
    "GraphQL inferFile": (graphql_infer, 10, True),
    "REST DELETE /files/{id}": (rest_delete, 5, True),
    "GraphQL deleteFile": (graphql_delete, 5, True),
}


async def client(load: Load, me: Client, deadline: float) -> None:
    """Pick an operation by weight, run it, again, until the deadline. One that
    needs a file of this client's own, when it has none, is an upload instead."""
    names = list(MIX)
    weights = [MIX[name][1] for name in names]
    while time.monotonic() < deadline:
        name = me.rng.choices(names, weights)[0]
        if MIX[name][2] and not me.mine:
            name = "REST upload"
        try:
            await MIX[name][0](load, me)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            # A 2xx whose body lacks what the API documents: a failure to report,
            # not a reason to stop the other clients.
            load.tallies[name].errors += 1
            load.note(f"{name}: unexpected answer: {exc!r}")


async def _check(load: Load, file_id: int, sha256: str) -> str | None:
    """Why an upload counts as lost, or None when it is there byte for byte."""
    try:
        async with load.session.get(f"{load.url}/files/{file_id}") as response:
            if response.status != 200:
                return f"file {file_id}: GET /files/{file_id} answered {response.status}"
            if (await response.json()).get("sha256") != sha256:
                return f"file {file_id}: its sha256 is not that of the bytes sent"
        async with load.session.get(f"{load.url}/files/{file_id}/image") as response:
            if response.status != 200:
                return f"file {file_id}: GET /files/{file_id}/image answered {response.status}"
            if hashlib.sha256(await response.read()).hexdigest() != sha256:
                return f"file {file_id}: the image served is not the bytes sent"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"file {file_id}: no answer: {exc!r}"
    return None


async def lost_uploads(load: Load) -> list[str]:
    slots = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def one(file_id: int, sha256: str) -> str | None:
        async with slots:
            return await _check(load, file_id, sha256)

    found = await asyncio.gather(*(one(i, s) for i, s in load.kept.items()))
    return [why for why in found if why is not None]


async def final_counts(load: Load) -> tuple[int | None, int | None]:
    """The files on the server, and those still `PROCESSING`, once every client
    is done: with no request in flight, no file may be left processing."""
    async with load.session.post(f"{load.url}/graphql", json={"query": END_QUERY}) as response:
        body = await response.json()
    try:
        total = int(body["data"]["files"]["totalCount"])
        by_status = {s["status"]: int(s["count"]) for s in body["data"]["stats"]["byStatus"]}
    except (KeyError, TypeError, ValueError):
        return None, None
    return total, by_status.get("PROCESSING", 0)


@dataclass
class Outcome:
    tallies: dict[str, Tally]
    seconds: float
    kept: int
    lost: list[str]
    on_server: int | None
    processing: int | None
    notes: list[str]
    # CPU seconds spent during the load by the server and by this process (the
    # clients): both share the machine's cores, so the split says who was busy.
    server_cpu: float
    client_cpu: float


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, threads included."""
    # Fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends the
    # command name (which may itself hold spaces).
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(live: LiveServer, clients: int, seconds: float, seed: int) -> Outcome:
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=max(100, clients))  # never a queue in the client
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        load = Load(session, live.url, {name: Tally() for name in MIX})
        load.duplicates = [small_jpeg(rng, -1 - i) for i in range(DUPLICATE_POOL)]
        server_cpu, client_cpu = cpu_seconds(live.pid), time.process_time()
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            *(client(load, Client(random.Random(rng.random())), deadline) for _ in range(clients))
        )
        # Requests begun before the deadline are waited for, and counted.
        elapsed = time.monotonic() - started
        server_cpu = cpu_seconds(live.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        lost = await lost_uploads(load)
        on_server, processing = await final_counts(load)
    return Outcome(
        tallies=load.tallies,
        seconds=elapsed,
        kept=len(load.kept),
        lost=lost,
        on_server=on_server,
        processing=processing,
        notes=load.notes,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
    )


def _percentiles(latencies: list[float]) -> tuple[float, float, float]:
    if len(latencies) < 2:
        only = latencies[0] if latencies else float("nan")
        return only, only, only
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def _row(name: str, tally: Tally, seconds: float) -> str:
    p50, p95, p99 = _percentiles(tally.latencies)
    requests = len(tally.latencies) + tally.no_answer
    return (
        f"{name:<27} {requests:>8} {requests / seconds:>8.1f} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}"
        f" {tally.count(400, 500):>5} {tally.count(500, 600):>5} {tally.no_answer:>6} {tally.errors:>6}"
    )


def _total(outcome: Outcome) -> Tally:
    everything = Tally()
    for tally in outcome.tallies.values():
        everything.latencies += tally.latencies
        everything.codes += tally.codes
        everything.no_answer += tally.no_answer
        everything.errors += tally.errors
    return everything


def report(outcome: Outcome, clients: int, peak_idle: float, peak: float) -> list[str]:
    everything = _total(outcome)
    lines = [
        f"{'operation':<27} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f" {'4xx':>5} {'5xx':>5} {'no ans':>6} {'errors':>6}"
    ]
    lines += [_row(name, tally, outcome.seconds) for name, tally in outcome.tallies.items()]
    lines.append(_row("all", everything, outcome.seconds))
    lines += [
        "",
        f"{clients} clients for {outcome.seconds:.1f} s (the last requests begun before the deadline included)",
        f"requests per second: {(len(everything.latencies) + everything.no_answer) / outcome.seconds:.1f}",
        f"5xx answers: {everything.count(500, 600)} (must be 0)",
        f"4xx answers: {everything.count(400, 500)}; requests with no answer: {everything.no_answer};"
        f" 2xx answers reporting an error: {everything.errors} (each must be 0)",
        f"uploads kept (accepted, not deleted): {outcome.kept}; lost: {len(outcome.lost)} (must be 0)",
        f"files on the server at the end: {outcome.on_server} ({outcome.kept} expected);"
        f" left PROCESSING: {outcome.processing} (must be 0)",
        f"server peak memory (VmHWM): {peak:.0f} MB ({peak_idle:.0f} MB before the load, model loaded)",
        f"CPU during the load: server {outcome.server_cpu:.1f} s, load generator"
        f" {outcome.client_cpu:.1f} s, of {outcome.seconds * (os.cpu_count() or 1):.0f} s"
        f" on {os.cpu_count()} cores",
    ]
    problems = failures(outcome, everything)
    lines.append(f"result: {'FAILED: ' + '; '.join(problems) if problems else 'passed'}")
    if outcome.lost:
        lines += ["", "lost uploads:", *outcome.lost[:NOTES_KEPT]]
    if outcome.notes:
        lines += ["", f"first {len(outcome.notes)} failures:", *outcome.notes]
    return lines


def failures(outcome: Outcome, everything: Tally) -> list[str]:
    """What went wrong. Every request the clients send is valid, so a 4xx or a
    GraphQL error (the 5xx of GraphQL, which answers 200) is as much a failure as
    a 5xx, and so is a file that is not where the accepted uploads say, or one
    left PROCESSING after every request has been answered."""
    found = {
        "5xx": everything.count(500, 600),
        "4xx": everything.count(400, 500),
        "requests with no answer": everything.no_answer,
        "2xx answers reporting an error": everything.errors,
        "lost uploads": len(outcome.lost),
    }
    problems = [f"{n} {what}" for what, n in found.items() if n]
    if outcome.on_server != outcome.kept:
        problems.append(f"{outcome.on_server} files on the server, {outcome.kept} expected")
    if outcome.processing != 0:
        problems.append(f"{outcome.processing} files left PROCESSING")
    return problems


def main() -> int:
    """Run the load test and print its report; 1 when anything failed, else 0."""
    clients = int(os.environ.get("LOAD_CLIENTS", "100"))
    seconds = float(os.environ.get("LOAD_SECONDS", "60"))
    print(header())
    print(f"engine: {' '.join(resolve_engine('auto', 'auto'))} (RUNTIME=auto PRECISION=auto)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "tiny-vit"
        save_tiny_vit(model)
        with server(
            folder,
            RECOGNIZER="local",
            HF_MODEL=str(model),
            PRELOAD_MODEL="true",
            HF_HUB_OFFLINE="1",  # the model is a local folder; the Hub is never asked
        ) as live:
            outcome, idle = _run(live, clients, seconds)
            peak = live.peak_rss_mb()
    print("\n".join(report(outcome, clients, idle, peak)), flush=True)
    return 1 if failures(outcome, _total(outcome)) else 0


def _run(live: LiveServer, clients: int, seconds: float) -> tuple[Outcome, float]:
    idle = live.peak_rss_mb()
    print(f"-- load: {clients} clients for {seconds:.0f} s ...", file=sys.stderr, flush=True)
    return asyncio.run(drive(live, clients, seconds, seed=0)), idle


if __name__ == "__main__":
    sys.exit(main())
