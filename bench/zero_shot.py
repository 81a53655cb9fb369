"""`scripts/bench zero-shot`: ms per photo of the zero-shot backend with
catalogs of 196, 2,000 and 10,000 names (goal: 10,000 costs at most 1.2x 196),
on a tiny CLIP and on a CLIP of ViT-B/32's size (random weights, built here)."""

from __future__ import annotations

import asyncio
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from config import Settings
from recognition.base import ImageRef
from recognition.local import resolve_engine
from recognition.prompts import FixedCatalog, FixedEntry
from recognition.zero_shot import ZeroShotRecognizer
from testkit.models import save_tiny_clip

SIZES = (196, 2000, 10000)
BODIES = ("Sedan", "SUV", "Coupe", "Hatchback", "Pickup")


def catalog(size: int) -> FixedCatalog:
    return FixedCatalog(
        [
            FixedEntry(
                i, f"Make{i % 97}", f"Model {i}", BODIES[i % 5], 2013 + i % 14, 2013 + i % 14
            )
            for i in range(size)
        ]
    )


def photo(folder: Path) -> ImageRef:
    pixels = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    path = folder / "photo.jpg"
    path.write_bytes(out.getvalue())
    return ImageRef(path, "image/jpeg")


async def measure(model: Path, folder: Path, runs: int) -> list[tuple[int, list[float], float]]:
    """Per catalog size: the ms of each photo, and the first call's seconds.
    The sizes take turns photo by photo, so a change in the machine's load
    (it is shared) weighs on every size alike instead of on one."""
    ref = photo(folder)
    recognizers = []
    firsts = []
    for size in SIZES:
        settings = Settings(
            _env_file=None,
            zero_shot_model=str(model),
            upload_dir=folder / f"up-{size}",
            model_cache_dir=folder / f"cache-{model.name}",  # the sizes share their prompts
            top_k=5,
        )
        recognizer = ZeroShotRecognizer(settings, catalog(size))
        started = time.perf_counter()
        await recognizer.recognize([ref])  # loads the model and embeds the catalog
        firsts.append(time.perf_counter() - started)
        recognizers.append(recognizer)
    times: list[list[float]] = [[] for _ in SIZES]
    for run in range(runs):
        for turn in range(len(SIZES)):
            index = (run + turn) % len(SIZES)
            started = time.perf_counter()
            await recognizers[index].recognize([ref])
            times[index].append((time.perf_counter() - started) * 1000)
    for recognizer in recognizers:
        await recognizer.close()
    return list(zip(SIZES, times, firsts, strict=True))


def main(runs: int = 15) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = {
            "tiny CLIP (2 layers, width 32)": folder / "tiny",
            "CLIP of ViT-B/32 size (12 layers, width 768, patch 32)": folder / "b32",
        }
        save_tiny_clip(models["tiny CLIP (2 layers, width 32)"])
        save_tiny_clip(
            models["CLIP of ViT-B/32 size (12 layers, width 768, patch 32)"],
            width=768,
            layers=12,
            projection=512,
        )
        runtime, precision = resolve_engine("torch", Settings(_env_file=None).precision)
        print(
            f"zero-shot, torch {runtime} {precision}; {runs} photos (640x480 JPEG) per size "
            "after a warm-up, the sizes taking turns; median and min ms, and each one's ratio to 196"
        )
        print(
            f"{'model':<56} {'names':>6} {'median':>7} {'±':>6} {'min':>7} "
            f"{'first call s':>12} {'median vs 196':>13} {'min vs 196':>10}"
        )
        for name, path in models.items():
            rows = asyncio.run(measure(path, folder, runs))
            base_median = statistics.median(rows[0][1])
            base_min = min(rows[0][1])
            for size, times, first in rows:
                median, low = statistics.median(times), min(times)
                spread = (max(times) - low) / 2
                print(
                    f"{name:<56} {size:>6} {median:>7.1f} {spread:>6.1f} {low:>7.1f} {first:>12.1f}"
                    f" {median / base_median:>12.2f}x {low / base_min:>9.2f}x",
                    flush=True,
                )
