"""Memory under decoding: the server's resident memory while 30 clients ask at
once for the thumbnail of one 8000x8000 PNG (a few hundred KB on disk, 192 MB of
pixels), while 8 clients ask at once for the thumbnails of 8 different ones, and
while 8 clients recognize 8 different 64-megapixel PNGs with the tiny ViT.

Each scenario gets a fresh server (`uvicorn server:app` on loopback): the images
are uploaded first, then the resident memory (VmRSS) is sampled every few
milliseconds from /proc while the requests run, and again two seconds after the
last answer. Run it with `scripts/bench decode`; numbers are printed, never
asserted."""

from __future__ import annotations

import io
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
from PIL import Image, ImageDraw

from bench.harness import header
from testkit.memory import SAMPLE_EVERY_S, Sampler, rss_mb
from testkit.models import save_tiny_vit
from testkit.servers import LiveServer, server

SIDE = 8000  # 64,000,000 pixels: the largest image MAX_IMAGE_PIXELS lets in
SETTLE_S = 2.0


def big_png(seed: int) -> bytes:
    """An 8000x8000 RGB PNG of flat bands: small on disk, 192 MB decoded."""
    img = Image.new("RGB", (SIDE, SIDE), (seed * 30 % 256, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(0, SIDE, 500):
        draw.rectangle((i, 0, i + 250, SIDE), fill=(200, (seed * 50 + i) % 256, 40))
    out = io.BytesIO()
    img.save(out, "PNG", compress_level=6)
    return out.getvalue()


@dataclass
class Row:
    scenario: str
    seconds: float
    idle_mb: float
    peak_mb: float
    after_mb: float
    answers: str

    def line(self) -> str:
        return (
            f"{self.scenario:<44} {self.seconds:>7.2f} {self.idle_mb:>8.0f} {self.peak_mb:>8.0f} "
            f"{self.peak_mb - self.idle_mb:>9.0f} {self.after_mb - self.idle_mb:>9.0f}  {self.answers}"
        )


def _upload(live: LiveServer, name: str, data: bytes) -> int:
    response = httpx.post(
        f"{live.url}/upload/", files={"file": (name, data, "image/png")}, timeout=600
    )
    response.raise_for_status()
    return int(response.json()["files"][0]["id"])


def _burst(live: LiveServer, scenario: str, calls: list[tuple[str, str]]) -> Row:
    """Send every (method, path) at once, one client each."""
    time.sleep(SETTLE_S)
    idle = rss_mb(live.pid)

    def call(item: tuple[str, str]) -> str:
        method, path = item
        try:
            response = httpx.request(method, f"{live.url}{path}", timeout=600)
        except httpx.TransportError as exc:
            return type(exc).__name__
        return str(response.status_code)

    with Sampler(live.pid) as sampler, ThreadPoolExecutor(len(calls)) as pool:
        started = time.perf_counter()
        answers = Counter(pool.map(call, calls))
        seconds = time.perf_counter() - started
    time.sleep(SETTLE_S)
    after = rss_mb(live.pid)
    summary = ", ".join(f"{n}x {code}" for code, n in sorted(answers.items()))
    return Row(scenario, seconds, idle, max(sampler.peak, idle), after, summary)


def main() -> None:
    print(header())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "tiny-vit"
        save_tiny_vit(model)
        print("-- decode: making eight 8000x8000 PNGs ...", file=sys.stderr, flush=True)
        pngs = [big_png(seed) for seed in range(8)]
        print(f"   PNG sizes: {', '.join(f'{len(p) // 1024} KB' for p in pngs)}", flush=True)
        rows: list[Row] = []
        env = {
            "RECOGNIZER": "local",
            "HF_MODEL": str(model),
            "PRELOAD_MODEL": "true",
            "HF_HUB_OFFLINE": "1",
        }
        scenarios = (
            ("30 parallel thumbnails, one 8000x8000 PNG", 1, "GET", "/files/{}/thumbnail", 30),
            ("8 parallel thumbnails, 8 different PNGs", 8, "GET", "/files/{}/thumbnail", 8),
            ("8 parallel POST /inference, 8 x 64 MP PNG", 8, "POST", "/inference/{}", 8),
        )
        for number, (scenario, images, method, route, clients) in enumerate(scenarios):
            print(f"-- decode: {scenario} ...", file=sys.stderr, flush=True)
            home = folder / f"server-{number}"
            home.mkdir()
            with server(home, **env) as live:
                ids = [_upload(live, f"big{i}.png", pngs[i]) for i in range(images)]
                calls = [(method, route.format(ids[i % images])) for i in range(clients)]
                rows.append(_burst(live, scenario, calls))
    print()
    print(
        f"{'scenario':<44} {'seconds':>7} {'idle MB':>8} {'peak MB':>8} "
        f"{'peak-idle':>9} {'held-idle':>9}  answers"
    )
    for row in rows:
        print(row.line())
    print(
        f"\nidle: VmRSS after the uploads, before the burst; peak: highest VmRSS sampled every "
        f"{SAMPLE_EVERY_S * 1000:.0f} ms; held: VmRSS {SETTLE_S:.0f} s after the last answer."
    )
