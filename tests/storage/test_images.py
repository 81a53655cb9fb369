"""The upload check of a JPEG that gets a preview decodes it at a reduced scale
(storage/images._scaled_for): it must refuse exactly what a full decode refuses."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from errors import InvalidImage, InvalidUpload
from storage.images import PreviewOut, check_image, read_header
from testkit.images import photo_like
from tests import images

_TYPES = ("image/jpeg", "image/png")
_MAX_PIXELS = 64_000_000
_MAX_RATIO = 20


def _verdict(path: Path, preview: PreviewOut | None) -> str:
    try:
        header = read_header(
            path, allowed_types=_TYPES, max_pixels=_MAX_PIXELS, max_aspect_ratio=_MAX_RATIO
        )
        info = check_image(path, header, max_pixels=_MAX_PIXELS, preview=preview)
    except InvalidUpload:
        return "refused"
    assert preview is None or info.previewed
    return "accepted"


def _mutations(data: bytes, count: int, seed: int) -> list[bytes]:
    """Damaged copies: bytes overwritten at random, cut short, or zeroed in a run."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        copy = bytearray(data)
        kind = rng.choice(("overwrite", "cut", "zero"))
        if kind == "overwrite":
            for _ in range(rng.randint(1, 8)):
                copy[rng.randrange(len(copy))] = rng.randrange(256)
        elif kind == "cut":
            copy = copy[: rng.randrange(len(copy))]
        else:
            start = rng.randrange(len(copy))
            run = min(rng.randint(1, 5000), len(copy) - start)
            copy[start : start + run] = bytes(run)
        out.append(bytes(copy))
    return out


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_the_scaled_decode_refuses_exactly_what_the_full_decode_refuses(
    tmp_path: Path, progressive: bool
) -> None:
    photo = Image.open(io.BytesIO(photo_like(1600, 1200, seed=5)))
    encoded = io.BytesIO()
    photo.save(encoded, "JPEG", quality=90, progressive=progressive)
    verdicts: dict[str, int] = {}
    for index, damaged in enumerate(_mutations(encoded.getvalue(), 150, seed=int(progressive))):
        path = tmp_path / f"{index}.jpg"
        path.write_bytes(damaged)
        full = _verdict(path, None)
        scaled = _verdict(path, PreviewOut(tmp_path / f"{index}-preview.jpg", 512))
        assert scaled == full, f"mutation {index}: full decode {full}, scaled {scaled}"
        verdicts[full] = verdicts.get(full, 0) + 1
    # both kinds were seen, or the comparison proved nothing
    assert verdicts.get("refused", 0) >= 20, verdicts
    assert verdicts.get("accepted", 0) >= 20, verdicts


def test_the_scaled_decode_keeps_the_originals_size_and_shape(tmp_path: Path) -> None:
    path = tmp_path / "odd.jpg"
    path.write_bytes(photo_like(3001, 2001, seed=2))
    out = PreviewOut(tmp_path / "preview.jpg", 512)
    header = read_header(
        path, allowed_types=_TYPES, max_pixels=_MAX_PIXELS, max_aspect_ratio=_MAX_RATIO
    )
    info = check_image(path, header, max_pixels=_MAX_PIXELS, preview=out)
    assert (info.width, info.height) == (3001, 2001)
    with Image.open(out.path) as small:
        assert small.size == (512, 341)  # 2001 * 512 / 3001 = 341.4


def test_the_aspect_ratio_is_refused_from_the_header_before_any_decode(tmp_path: Path) -> None:
    # The frame header says 1 x 60000; the data behind it is a 16 x 16 image, so
    # a decode would fail as damaged. The refusal names the shape: it came first.
    path = tmp_path / "strip.jpg"
    path.write_bytes(images.jpeg_with_size(1, 60000))
    with pytest.raises(InvalidImage, match=r"1×60000 pixels: its long side is 60,000 times"):
        read_header(path, allowed_types=_TYPES, max_pixels=_MAX_PIXELS, max_aspect_ratio=20)
