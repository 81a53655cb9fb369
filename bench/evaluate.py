"""`scripts/evaluate FOLDER`: accuracy of the configured recognizer on a
labelled set of photos (settings from the environment and .env, as the server).

FOLDER is either
- an ImageFolder: one sub-folder per class, named as the model names it
  ("BMW M3 Coupe 2012"), and optionally `not_a_car/` with photos of anything
  else; or
- the Stanford Cars devkit layout: `cars_test/` with
  `cars_test_annos_withlabels.mat` (beside it or in `devkit/`) and
  `devkit/cars_meta.mat` for the class names.

Prints top-1 and top-5 accuracy on the car photos, the precision and recall of
the NOT_CAR verdict, how many were UNSURE, and ms per photo. For RECOGNIZER=
zero-shot the catalog is the set's own class names (the usual zero-shot protocol).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from config import Settings
from errors import AppError
from recognition.base import ImageRef, Recognition
from recognition.factory import create_recognizer
from recognition.labels import parse_label
from recognition.prompts import FixedCatalog, FixedEntry
from storage.decode_pool import MB, DecodePool

NOT_A_CAR = "not_a_car"
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str | None  # None: not a car


def _norm(label: str) -> str:
    return " ".join(label.lower().split())


def image_folder(root: Path) -> list[Sample]:
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = None if folder.name == NOT_A_CAR else folder.name
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_TYPES:
                samples.append(Sample(path, label))
    return samples


def stanford_devkit(root: Path) -> list[Sample]:
    from scipy.io import loadmat

    annos = next(
        p
        for p in (
            root / "cars_test_annos_withlabels.mat",
            root / "devkit" / "cars_test_annos_withlabels.mat",
        )
        if p.is_file()
    )
    names = [str(n[0]) for n in loadmat(root / "devkit" / "cars_meta.mat")["class_names"][0]]
    samples = []
    for record in loadmat(annos)["annotations"][0]:
        fname, cls = str(record["fname"][0]), int(record["class"][0][0])
        samples.append(Sample(root / "cars_test" / fname, names[cls - 1]))
    return samples


def load(root: Path) -> list[Sample]:
    return stanford_devkit(root) if (root / "cars_test").is_dir() else image_folder(root)


def catalog_of(samples: list[Sample]) -> FixedCatalog:
    entries = []
    for index, label in enumerate(sorted({s.label for s in samples if s.label})):
        parts = parse_label(label)
        if parts.make and parts.model:
            entries.append(
                FixedEntry(index, parts.make, parts.model, parts.body_type, parts.year, parts.year)
            )
        else:
            entries.append(FixedEntry(index, label, ""))
    return FixedCatalog(entries)


async def run(
    samples: list[Sample], settings: Settings
) -> tuple[list[Recognition | AppError], float]:
    decoder = DecodePool(memory_bytes=settings.decode_memory_mb * MB)
    recognizer = create_recognizer(settings, decoder, catalog=catalog_of(samples))
    await recognizer.start()
    try:
        refs = [ImageRef(s.path, IMAGE_TYPES[s.path.suffix.lower()]) for s in samples]
        await recognizer.recognize(refs[:1])  # load the model before timing
        started = time.perf_counter()
        outcomes: list[Recognition | AppError] = []
        step = settings.infer_batch_size
        for start in range(0, len(refs), step):
            outcomes += await recognizer.recognize(refs[start : start + step])
        return outcomes, (time.perf_counter() - started) * 1000 / max(1, len(refs))
    finally:
        await recognizer.close()
        decoder.close()


def report(
    samples: list[Sample], outcomes: list[Recognition | AppError], ms: float
) -> dict[str, float]:
    cars = top1 = top5 = failed = unsure = 0
    true_neg = false_neg = flagged_car = 0  # NOT_CAR on a negative, missed, on a car
    for sample, outcome in zip(samples, outcomes, strict=True):
        if isinstance(outcome, AppError):
            failed += 1
            continue
        unsure += outcome.verdict == "unsure"
        if sample.label is None:
            true_neg += outcome.verdict == "not_car"
            false_neg += outcome.verdict != "not_car"
            continue
        cars += 1
        flagged_car += outcome.verdict == "not_car"
        ranked = [_norm(g.label) for g in outcome.guesses]
        top1 += ranked[:1] == [_norm(sample.label)]
        top5 += _norm(sample.label) in ranked[:5]
    flagged = true_neg + flagged_car
    return {
        "photos": len(samples),
        "cars": cars,
        "not_cars": true_neg + false_neg,
        "failed": failed,
        "top1": top1 / cars if cars else float("nan"),
        "top5": top5 / cars if cars else float("nan"),
        "not_car_precision": true_neg / flagged if flagged else float("nan"),
        "not_car_recall": true_neg / (true_neg + false_neg)
        if true_neg + false_neg
        else float("nan"),
        "unsure": unsure,
        "ms_per_photo": ms,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos")
    args = parser.parse_args(argv)
    samples = load(args.folder)
    if args.limit:
        samples = samples[: args.limit]
    if not samples:
        raise SystemExit(f"no photos found in {args.folder}")
    settings = Settings()
    outcomes, ms = asyncio.run(run(samples, settings))
    found = report(samples, outcomes, ms)
    model = settings.zero_shot_model if settings.recognizer == "zero-shot" else settings.hf_model
    print(f"recognizer {settings.recognizer} ({model}), {os.cpu_count()} cores")
    print(
        f"photos        {found['photos']:>8} ({found['cars']} cars, {found['not_cars']} not cars, {found['failed']} failed)"
    )
    print(f"top-1         {found['top1']:>8.1%}")
    print(f"top-5         {found['top5']:>8.1%}")
    print(
        f"NOT_CAR       precision {found['not_car_precision']:.1%}, recall {found['not_car_recall']:.1%}"
    )
    print(f"UNSURE        {found['unsure']:>8}")
    print(f"ms per photo  {found['ms_per_photo']:>8.1f}")
    return found


if __name__ == "__main__":
    main()
