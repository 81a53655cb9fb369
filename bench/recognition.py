"""Recognition speed: the local recognizer with each runtime and precision
against the plain transformers pipeline (fp32, full decode), on a ViT-B/16-sized
model with random weights and the 196 Stanford Cars labels, and how far each
one strays from torch fp32 on the same inputs."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench.harness import Figure, repeat
from config import Settings
from recognition.base import Guess, ImageRef, Recognition
from recognition.local import LocalRecognizer
from testkit.images import photo_like

# (runtime, precision); the first is the reference for the deviation figures.
ENGINES = (
    ("torch", "fp32"),
    ("torch", "bf16"),
    ("torch", "int8"),
    ("onnxruntime", "fp32"),
    ("onnxruntime", "int8"),
)
BATCHES = (1, 8)
T = TypeVar("T")


def make_model(folder: Path) -> None:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    labels = (
        (Path(__file__).parents[1] / "testkit" / "stanford_cars_classes.txt")
        .read_text()
        .splitlines()
    )
    config = ViTConfig(
        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)}
    )
    torch.manual_seed(0)
    model = ViTForImageClassification(config)  # ViT-B/16: 86M parameters
    with torch.no_grad():  # a confident classifier, like a fine-tuned one, not a uniform one
        classifier = model.classifier
        assert isinstance(classifier, torch.nn.Linear)
        classifier.weight.normal_(0, 0.1)
    model.save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 224, "width": 224}).save_pretrained(folder)


class Ours:
    """A LocalRecognizer on its own event loop, called as the server calls it."""

    def __init__(self, model: Path, engine: tuple[str, str], batch: int) -> None:
        settings = Settings(
            _env_file=None,
            hf_model=str(model),
            runtime=engine[0],
            precision=engine[1],
            infer_batch_size=batch,
            model_cache_dir=model / "onnx",
        )
        self.loop = asyncio.new_event_loop()
        self.recognizer = LocalRecognizer(settings)

    def __call__(self, refs: list[ImageRef]) -> list[Recognition]:
        outcomes = self.loop.run_until_complete(self.recognizer.recognize(refs))
        assert all(isinstance(o, Recognition) for o in outcomes), outcomes
        return outcomes  # type: ignore[return-value]

    def close(self) -> None:
        self.loop.run_until_complete(self.recognizer.close())
        self.loop.close()


def _ms_per_image(call: Callable[[list[T]], object], inputs: list[T]) -> float:
    started = time.perf_counter()
    call(inputs)
    return (time.perf_counter() - started) * 1000 / len(inputs)


def speed(model: Path, folder: Path, runs: int) -> tuple[list[Figure], list[str]]:
    from transformers import pipeline

    images = {
        "12 MP JPEG (4000x3000)": ("jpg", photo_like(4000, 3000)),
        "640x480 JPEG": ("jpg", photo_like(640, 480)),
        "1024x768 PNG": ("png", photo_like(1024, 768, fmt="PNG")),
    }
    classify = pipeline("image-classification", model=str(model))
    figures: list[Figure] = []
    ratios: list[str] = []
    for name, (ext, data) in images.items():
        path = folder / f"{name.split()[0]}.{ext}"
        path.write_bytes(data)
        ref = ImageRef(path, "image/png" if ext == "png" else "image/jpeg")
        for batch in BATCHES:
            theirs = repeat(
                runs,
                lambda: _ms_per_image(
                    lambda xs: classify(xs, batch_size=batch, top_k=5), [str(path)] * batch
                ),
            )
            figures.append(Figure(f"pipeline fp32, {name}, batch {batch}", "ms/image", theirs))
            for engine in ENGINES:
                label = " ".join(engine)
                ours = Ours(model, engine, batch)
                try:
                    mine = repeat(runs, lambda: _ms_per_image(ours, [ref] * batch))
                finally:
                    ours.close()
                figures.append(Figure(f"local {label}, {name}, batch {batch}", "ms/image", mine))
                figures.append(Figure("  images per second", "img/s", [1000 / t for t in mine]))
                ratios.append(
                    f"{name}, batch {batch}, local {label}: "
                    f"{statistics.median(theirs) / statistics.median(mine):.2f}x the pipeline's speed"
                )
    return figures, ratios


def deviation(model: Path, folder: Path, count: int = 32) -> list[str]:
    """Each engine against torch fp32 on the same images: the largest and the
    mean absolute difference of the reference's top-5 probabilities, and how
    often the top-1 label changes."""
    refs = []
    for seed in range(count):
        path = folder / f"dev-{seed}.jpg"
        path.write_bytes(photo_like(640, 480, grain=8 + seed, seed=seed))
        refs.append(ImageRef(path, "image/jpeg"))
    results: dict[tuple[str, str], list[list[Guess]]] = {}
    for engine in ENGINES:
        ours = Ours(model, engine, 8)
        try:
            results[engine] = [r.guesses for r in ours(refs)]
        finally:
            ours.close()
    lines = []
    for engine in ENGINES[1:]:
        diffs: list[float] = []
        changed = 0
        for exact, other in zip(results[ENGINES[0]], results[engine], strict=True):
            theirs = {g.label: g.score for g in other}
            diffs += [abs(g.score - theirs.get(g.label, 0.0)) for g in exact]
            changed += exact[0].label != other[0].label
        lines.append(
            f"{' '.join(engine)} vs torch fp32 on {count} images: top-5 probability difference "
            f"max {max(diffs):.4f}, mean {statistics.mean(diffs):.4f}; top-1 changed in "
            f"{changed} of {count} ({100 * changed / count:.0f}%)"
        )
    return lines
