"""How far recognition of the preview (made from the upload's decode) is from
recognition of the original (decoded again at reduced size, as before
previews): the same tiny ViT on both, over the test images. Used by
tests/recognition/test_preview.py (which bounds it) and `scripts/bench uploads`
(which prints it)."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from storage.decode import open_upright_rgb
from storage.images import PreviewOut, check_image, read_header
from storage.objects import PREVIEW_SIZE
from testkit.images import photo_like
from tests import car_images, images

_TYPES = ("image/jpeg", "image/png")
_MAX_PIXELS = 64_000_000
_MAX_RATIO = 20


def sample_photos() -> dict[str, bytes]:
    """Photos larger than a preview, of the kinds the tests use: plain and
    rotated JPEGs, photo-like grain, cars with noise, a transparent PNG, noise."""
    rgba = Image.new("RGBA", (1400, 1000), (20, 120, 200, 255))
    rgba.paste((250, 30, 30, 90), (200, 200, 1100, 800))
    found = {
        "jpeg 4000x3000": images.jpeg(4000, 3000),
        "jpeg 3000x2000, EXIF rotated": images.jpeg(3000, 2000, orientation=6),
        "noise 1600x1200": _noise(1600, 1200),
        "transparent PNG 1400x1000": car_images.encoded(rgba),
    }
    for seed in range(4):
        found[f"photo-like 4000x3000 #{seed}"] = photo_like(4000, 3000, seed=seed)
    for name, paint in list(car_images.PAINTS.items())[:6]:
        car = car_images.car(paint, width=1600, height=1000, noise=6, seed=len(name))
        found[f"{name} car 1600x1000"] = car_images.encoded(car, "JPEG")
    return found


def _noise(width: int, height: int) -> bytes:
    """Random pixels, the hardest case for a JPEG preview, the same every run
    (tests/images.noisy_jpeg draws new ones each time)."""
    pixels = np.random.default_rng(11).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


@dataclass(frozen=True)
class Deviation:
    images: int
    top1_agree: int
    max_prob_diff: float  # the largest |p_preview - p_original| of any class, any image


def deviation(model_folder: Path, photos: dict[str, bytes]) -> Deviation:
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(model_folder)  # type: ignore[no-untyped-call]
    model = AutoModelForImageClassification.from_pretrained(model_folder).eval()

    def probabilities(image: Image.Image) -> torch.Tensor:
        pixels = processor(images=[image], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            result: torch.Tensor = model(pixel_values=pixels).logits.softmax(-1)[0]
        return result

    agree, worst = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for index, data in enumerate(photos.values()):
            original = Path(tmp) / f"{index}.img"
            original.write_bytes(data)
            small = Path(tmp) / f"{index}-preview.jpg"
            header = read_header(
                original, allowed_types=_TYPES, max_pixels=_MAX_PIXELS, max_aspect_ratio=_MAX_RATIO
            )
            out = PreviewOut(small, PREVIEW_SIZE)
            assert check_image(original, header, max_pixels=_MAX_PIXELS, preview=out).previewed
            before = probabilities(open_upright_rgb(original, fit=224))  # today's path
            after = probabilities(open_upright_rgb(small, fit=224))
            agree += int(before.argmax() == after.argmax())
            worst = max(worst, float((before - after).abs().max()))
    return Deviation(len(photos), agree, worst)
