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

from bench.models import save_tiny_clip
from config import Settings
from recognition.base import ImageRef
from recognition.prompts import FixedCatalog, FixedEntry
from recognition.zero_shot import ZeroShotRecognizer

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


async def measure(model: Path, folder: Path, size: int, runs: int) -> tuple[float, float, float]:
    settings = Settings(
        _env_file=None, zero_shot_model=str(model), upload_dir=folder / f"up-{size}", top_k=5
    )
    recognizer = ZeroShotRecognizer(settings, catalog(size))
    ref = photo(folder)
    started = time.perf_counter()
    await recognizer.recognize([ref])  # loads the model and embeds the catalog
    first = time.perf_counter() - started
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await recognizer.recognize([ref])
        times.append((time.perf_counter() - started) * 1000)
    await recognizer.close()
    return statistics.median(times), (max(times) - min(times)) / 2, first


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
        engine = ZeroShotRecognizer(Settings(_env_file=None), catalog(0)).engine
        print(f"zero-shot, torch {engine}; median of {runs} photos (640x480 JPEG) after a warm-up")
        print(
            f"{'model':<56} {'names':>6} {'ms/photo':>9} {'±':>6} {'first call s':>12} {'vs 196':>7}"
        )
        for name, path in models.items():
            base = None
            for size in SIZES:
                ms, spread, first = asyncio.run(measure(path, folder, size, runs))
                base = base or ms
                print(
                    f"{name:<56} {size:>6} {ms:>9.1f} {spread:>6.1f} {first:>12.1f} {ms / base:>6.2f}x",
                    flush=True,
                )
