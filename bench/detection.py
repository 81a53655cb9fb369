"""Several vehicles per photo: ms per photo with and without a detector (the
recognizer the server runs: decode, detect, classify each vehicle, colour), for
a tiny pair of models and a realistic-size one (a YOLOS-tiny-sized detector,
hidden 192, 12 layers, 100 detection tokens, 512 px short side; a ViT-B/16
classifier), all with random weights. Random detectors find random boxes: each
figure says how many vehicles the photo had, since each is a classification."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from bench.harness import Figure, repeat
from config import Settings
from recognition.base import ImageRef, Recognition
from recognition.color import pixel_color
from recognition.local import LocalRecognizer
from recognition.vehicles import VehicleRecognizer
from testkit.images import photo_like
from testkit.models import save_tiny_vit, save_yolos

PHOTOS = {"12 MP JPEG": (4000, 3000), "640x480 JPEG": (640, 480)}


def make_models(folder: Path, classifier: Path) -> dict[str, tuple[Path, Path]]:
    """{name: (classifier, detector)}; `classifier` is the ViT-B/16 already made."""
    tiny_vit, tiny_yolos, yolos = folder / "tiny-vit", folder / "tiny-yolos", folder / "yolos-ti"
    save_tiny_vit(tiny_vit)
    save_yolos(tiny_yolos)
    save_yolos(
        yolos, hidden_size=192, layers=12, heads=3, detection_tokens=100, shortest_edge=512,
        longest_edge=864,
    )  # fmt: skip
    return {"tiny": (tiny_vit, tiny_yolos), "realistic": (classifier, yolos)}


def figures(classifier: Path, folder: Path, runs: int) -> tuple[list[Figure], list[str]]:
    found: list[Figure] = []
    notes: list[str] = []
    paths = {}
    for name, (width, height) in PHOTOS.items():
        paths[name] = folder / f"detect-{width}x{height}.jpg"
        paths[name].write_bytes(photo_like(width, height))
    sample = Image.open(io.BytesIO(photo_like(640, 480))).resize((224, 168))
    colour = repeat(runs, lambda: _timed(lambda: pixel_color(sample)))
    found.append(Figure("pixel colour of a 224x168 image (its share of each above)", "ms", colour))
    for size, (vit, yolos) in make_models(folder, classifier).items():
        for name, path in paths.items():
            ref = ImageRef(path, "image/jpeg")
            whole = _ms(runs, Settings(_env_file=None, hf_model=str(vit)), ref)
            label = f"{size}: {name}, no detector (whole photo, colour included)"
            found.append(Figure(label, "ms/photo", whole))
            alone = Settings(_env_file=None, detector=str(yolos), detector_threshold=0.0)
            label = f"{size}: {name}, detector alone (decode + detect)"
            found.append(Figure(label, "ms/photo", _detect_ms(runs, alone, ref)))
            for most in (1, 5):
                settings = Settings(
                    _env_file=None,
                    hf_model=str(vit),
                    detector=str(yolos),
                    detector_threshold=0.0,
                    detector_max_vehicles=most,
                )
                timed = _ms(runs, settings, ref)
                label = f"{size}: {name}, detector + {most} vehicle(s) + colours"
                found.append(Figure(label, "ms/photo", timed))
    notes.append(
        "detection figures: DETECTOR_THRESHOLD=0 so the random detector's most confident"
        " boxes fill DETECTOR_MAX_VEHICLES (1 or 5): each vehicle is one more classification"
    )
    return found, notes


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def _ms(runs: int, settings: Settings, ref: ImageRef) -> list[float]:
    loop = asyncio.new_event_loop()
    recognizer = VehicleRecognizer(LocalRecognizer(settings), settings)

    def once() -> float:
        started = time.perf_counter()
        [outcome] = loop.run_until_complete(recognizer.recognize([ref]))
        assert isinstance(outcome, Recognition), outcome
        return (time.perf_counter() - started) * 1000

    try:
        return repeat(runs, once)
    finally:
        loop.run_until_complete(recognizer.close())
        loop.close()


def _detect_ms(runs: int, settings: Settings, ref: ImageRef) -> list[float]:
    from recognition.detector import Detector

    loop = asyncio.new_event_loop()
    detector = Detector(settings)

    def once() -> float:
        started = time.perf_counter()
        loop.run_until_complete(detector.detect(ref))
        return (time.perf_counter() - started) * 1000

    try:
        return repeat(runs, once)
    finally:
        loop.run_until_complete(detector.close())
        loop.close()
