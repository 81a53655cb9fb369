"""scripts/evaluate on small generated sets: an ImageFolder and the Stanford
Cars devkit layout, with the tiny ViT and the tiny CLIP."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from bench.evaluate import load, main

ROOT = Path(__file__).parents[1]
CLASSES = ["BMW M3 Coupe 2012", "Tesla Model S Sedan 2012", "Ford F-150 Regular Cab 2012"]


def photo(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


def image_folder(root: Path) -> Path:
    for index, name in enumerate([*CLASSES, "not_a_car"]):
        (root / name).mkdir(parents=True)
        for n in range(2):
            (root / name / f"{n}.jpg").write_bytes(photo(index * 10 + n))
    return root


def test_image_folder_with_the_tiny_vit(
    tmp_path: Path,
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = image_folder(tmp_path / "set")
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("HF_MODEL", str(tiny_model))
    monkeypatch.setenv("UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("VEHICLE_GATE", "efficientnet")
    found = main([str(folder)])
    assert (found["photos"], found["cars"], found["not_cars"], found["failed"]) == (8, 6, 2, 0)
    assert 0 <= found["top1"] <= found["top5"] <= 1
    assert found["ms_per_photo"] > 0
    # Noise is no vehicle to a real ImageNet model: both negatives are caught.
    assert found["not_car_recall"] == 1
    printed = capsys.readouterr().out
    assert "top-1" in printed
    assert "NOT_CAR" in printed


def test_stanford_devkit_layout_with_the_tiny_clip(
    tmp_path: Path, tiny_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "stanford"
    (root / "cars_test").mkdir(parents=True)
    (root / "devkit").mkdir()
    names = np.empty((1, len(CLASSES)), dtype=object)
    for i, name in enumerate(CLASSES):
        names[0, i] = np.array([name])
    savemat(root / "devkit" / "cars_meta.mat", {"class_names": names})
    records = np.zeros((1, 6), dtype=[("fname", object), ("class", object)])
    for i in range(6):
        fname = f"{i + 1:05d}.jpg"
        (root / "cars_test" / fname).write_bytes(photo(100 + i))
        records[0, i] = (np.array([fname]), np.array([[i % 3 + 1]], dtype=np.uint8))
    savemat(root / "cars_test_annos_withlabels.mat", {"annotations": records})
    assert [s.label for s in load(root)] == [CLASSES[i % 3] for i in range(6)]

    monkeypatch.chdir(tmp_path)
    env = {
        "RECOGNIZER": "zero-shot",
        "ZERO_SHOT_MODEL": str(tiny_clip),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.evaluate", str(root)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "photos               6 (6 cars, 0 not cars, 0 failed)" in done.stdout
    top5 = next(line for line in done.stdout.splitlines() if line.startswith("top-5"))
    assert top5.split()[-1] == "100.0%"  # three classes: every label is in the top 5
    assert not math.isnan(float(top5.split()[-1].rstrip("%")))
