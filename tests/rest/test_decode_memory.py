"""Decoding is bounded: against a real server, many clients asking at once for
the thumbnail or the recognition of 16-megapixel PNGs (a few KB on disk, 61 MB
once decoded) raise its memory by a few decodes' worth, not one per client."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx2 as httpx
from PIL import Image, ImageDraw

from testkit.memory import Sampler, rss_mb
from testkit.servers import LiveServer, server
from tests import images

SIDE = 4000
DECODED_MB = SIDE * SIDE * 4 / 2**20  # Pillow keeps RGB as 4 bytes a pixel


def _flat_png(seed: int) -> bytes:
    img = Image.new("RGB", (SIDE, SIDE), (seed * 40 % 256, 80, 120))
    ImageDraw.Draw(img).rectangle((0, 0, SIDE // 2, SIDE // 3), fill=(200, seed * 20 % 256, 10))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _upload(live: LiveServer, name: str, data: bytes) -> int:
    response = httpx.post(f"{live.url}/upload/", files={"file": (name, data)}, timeout=120)
    assert response.status_code == 200, response.text
    return int(response.json()["files"][0]["id"])


def _growth_mb(
    live: LiveServer, calls: list[Callable[[], httpx.Response]]
) -> tuple[float, list[httpx.Response]]:
    """Run every call at once; how far the server's memory rose above where it
    was, and the answers."""
    idle = rss_mb(live.pid)
    with Sampler(live.pid) as sampler, ThreadPoolExecutor(len(calls)) as pool:
        answers = list(pool.map(lambda call: call(), calls))
    return sampler.peak - idle, answers


def test_thirty_clients_asking_for_one_new_thumbnail_cost_about_one_decode(
    tmp_path: Path, database_url: str
) -> None:
    with server(tmp_path, DATABASE_URL=database_url, RECOGNIZER="huggingface") as live:
        file_id = _upload(live, "big.png", _flat_png(0))
        url = f"{live.url}/files/{file_id}/thumbnail"
        growth, answers = _growth_mb(live, [partial(httpx.get, url, timeout=120)] * 30)
    assert [a.status_code for a in answers] == [200] * 30
    assert len({a.content for a in answers}) == 1  # one thumbnail, made once
    # unbounded, it was one decode (and a copy) per client: 30 x 61 MB and more
    assert growth < 4 * DECODED_MB, f"memory rose {growth:.0f} MB"


def test_eight_recognitions_of_large_pngs_share_the_decode_budget(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "RECOGNIZER": "local",
        "HF_MODEL": str(tiny_model),
        "PRELOAD_MODEL": "true",
        "HF_HUB_OFFLINE": "1",
        "DECODE_MEMORY_MB": "64",  # one 16 MP decode at a time
    }
    with server(tmp_path, **env) as live:
        warm = _upload(live, "small.jpg", images.jpeg())
        assert httpx.post(f"{live.url}/inference/{warm}", timeout=120).status_code == 200
        ids = [_upload(live, f"big{i}.png", _flat_png(i)) for i in range(8)]
        growth, answers = _growth_mb(
            live,
            [partial(httpx.post, f"{live.url}/inference/{i}", timeout=120) for i in ids],
        )
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert growth < 3 * DECODED_MB, f"memory rose {growth:.0f} MB"
