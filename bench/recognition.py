"""`python -m bench.recognition`: the local recognizer against the plain
transformers pipeline, on the same ViT-B/16-sized model (random weights, the 196
Stanford Cars labels) and the same images."""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.harness import Figure, header

BATCH_SIZES = (1, 8)


def photo_like_jpeg(width: int, height: int) -> bytes:
    """Smooth shading plus grain: compresses and decodes like a photo, unlike
    flat colour (too cheap) or pure noise (too dear)."""
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    ones = np.ones((height, width), dtype=np.float32)
    base = np.stack([x * 200 + y * 40, (y * 180 + 30) * ones, (1 - x) * 150 + y * 60], axis=-1)
    pixels = np.clip(base + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def make_model(folder: Path) -> None:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    labels = (
        (Path(__file__).parents[1] / "tests" / "stanford_cars_classes.txt").read_text().splitlines()
    )
    config = ViTConfig(
        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)}
    )
    torch.manual_seed(0)
    ViTForImageClassification(config).save_pretrained(folder)  # ViT-B/16: 86M parameters
    ViTImageProcessorPil(size={"height": 224, "width": 224}).save_pretrained(folder)


def ours(model: Path, image: Path, batch: int, runs: int) -> list[float]:
    """ms per image through LocalRecognizer.recognize, `batch` images at a time."""
    from config import Settings
    from recognition.base import ImageRef
    from recognition.local import LocalRecognizer

    settings = Settings(_env_file=None, hf_model=str(model), infer_batch_size=batch)
    refs = [ImageRef(image, "image/jpeg")] * batch

    async def measure() -> list[float]:
        recognizer = LocalRecognizer(settings)
        await recognizer.start()
        try:
            await recognizer.recognize(refs)  # load + warm-up
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                await recognizer.recognize(refs)
                times.append((time.perf_counter() - started) * 1000 / batch)
            return times
        finally:
            await recognizer.close()

    return asyncio.run(measure())


def pipeline_ms(model: Path, image: Path, batch: int, runs: int) -> list[float]:
    from transformers import pipeline

    classify = pipeline("image-classification", model=str(model))
    inputs = [str(image)] * batch
    classify(inputs, batch_size=batch, top_k=5)  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        classify(inputs, batch_size=batch, top_k=5)
        times.append((time.perf_counter() - started) * 1000 / batch)
    return times


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    print(header())
    print(f"ViT-B/16 (random weights), fp32; median of {runs} runs after a warm-up\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_model(folder / "model")
        photos = {
            "12 MP JPEG (4000x3000)": photo_like_jpeg(4000, 3000),
            "640x480 JPEG": photo_like_jpeg(640, 480),
        }
        figures: list[Figure] = []
        speedups: list[str] = []
        for name, data in photos.items():
            image = folder / f"{name.split()[0]}.jpg"
            image.write_bytes(data)
            for batch in BATCH_SIZES:
                mine = ours(folder / "model", image, batch, runs)
                theirs = pipeline_ms(folder / "model", image, batch, runs)
                figures.append(Figure(f"local recognizer, {name}, batch {batch}", "ms/image", mine))
                figures.append(Figure("  images per second", "img/s", [1000 / t for t in mine]))
                figures.append(
                    Figure(f"transformers pipeline, {name}, batch {batch}", "ms/image", theirs)
                )
                figures.append(Figure("  images per second", "img/s", [1000 / t for t in theirs]))
                ratio = statistics.median(theirs) / statistics.median(mine)
                speedups.append(
                    f"{name}, batch {batch}: local recognizer {ratio:.2f}x the pipeline's speed"
                )
                print(figures[-4].row(), figures[-2].row(), sep="\n", flush=True)
        print(f"\n{'figure':<58} {'median':>10} {'unit':<10} spread")
        for figure in figures:
            print(figure.row())
        print()
        print("\n".join(speedups))


if __name__ == "__main__":
    main()
