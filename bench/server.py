"""What the server adds to recognition: POST /inference/{id} and inferFile end
to end, against calling the recognizer directly on the same images."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx2 as httpx

from bench.harness import Figure
from bench.recognition import Ours
from recognition.base import ImageRef
from testkit.images import photo_like
from testkit.servers import server

INFER = "mutation($id: ID!) { inferFile(id: $id) { file { status } errors { message } } }"


def _timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def figures(
    model: Path, folder: Path, runs: int, engine: tuple[str, str]
) -> tuple[list[Figure], list[str]]:
    out: list[Figure] = []
    lines: list[str] = []
    count = runs + 1  # the first of each is a warm-up
    photos = {
        "12 MP JPEG": [photo_like(4000, 3000, seed=s) for s in range(2 * count)],
        "640x480 JPEG": [photo_like(640, 480, seed=s) for s in range(2 * count)],
    }
    for name, variants in photos.items():
        # Distinct bytes each time, so no result is reused from an earlier one.
        paths = []
        for i, data in enumerate(variants):
            path = folder / f"overhead-{name.split()[0]}-{i}.jpg"
            path.write_bytes(data)
            paths.append(path)
        # A fresh server and database per engine and image size: results stored
        # by one run must not be reused by the next.
        home = folder / f"server-{'-'.join(engine)}-{name.split()[0]}"
        home.mkdir()
        with (
            server(
                home,
                HF_MODEL=str(model),
                RUNTIME=engine[0],
                PRECISION=engine[1],
                PRELOAD_MODEL="true",
            ) as live,
            httpx.Client(base_url=live.url, timeout=120) as client,
        ):
            ids = []
            for path in paths:
                response = client.post(
                    "/upload/", files={"file": (path.name, path.read_bytes(), "image/jpeg")}
                )
                response.raise_for_status()
                ids.append(response.json()["files"][0]["id"])
            rest = [
                _timed(lambda i=i: client.post(f"/inference/{i}").raise_for_status())
                for i in ids[:count]
            ][1:]
            gql = [
                _timed(
                    lambda i=i: client.post(
                        "/graphql", json={"query": INFER, "variables": {"id": str(i)}}
                    ).raise_for_status()
                )
                for i in ids[count:]
            ][1:]
        ours = Ours(model, engine, 1)
        try:
            direct = [_timed(lambda p=p: ours([ImageRef(p, "image/jpeg")])) for p in paths][1:]
        finally:
            ours.close()
        out += [
            Figure(f"recognizer called directly, {name} ({' '.join(engine)})", "ms", direct),
            Figure(f"POST /inference/{{id}} end to end, {name}", "ms", rest),
            Figure(f"GraphQL inferFile end to end, {name}", "ms", gql),
        ]
        base = statistics.median(direct)
        for label, times in (("REST", rest), ("GraphQL", gql)):
            added = statistics.median(times) - base
            lines.append(
                f"{name}, {' '.join(engine)}: {label} adds {added:.1f} ms to the recognizer's {base:.1f} ms ({100 * added / base:+.1f}%)"
            )
    return out, lines
