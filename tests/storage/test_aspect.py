"""The aspect-ratio rule's geometry: what recognition keeps of an image stored
before MAX_ASPECT_RATIO, or of a thin region (the refusal itself is tested
through the upload routes)."""

from __future__ import annotations

import pytest
from PIL import Image

from storage.aspect import central_box, within_aspect


@pytest.mark.parametrize(
    ("size", "box"),
    [
        ((1, 60000), (0, 29990, 1, 20)),
        ((2000, 1), (990, 0, 20, 1)),
        ((8, 800), (0, 320, 8, 160)),
        ((101, 5), (0, 0, 100, 5)),
        ((20, 1), (0, 0, 20, 1)),
        ((640, 480), (0, 0, 640, 480)),
    ],
)
def test_the_central_part_within_the_ratio_is_kept(
    size: tuple[int, int], box: tuple[int, int, int, int]
) -> None:
    assert central_box(*size, max_ratio=20) == box


def test_only_the_pixels_of_the_central_part_are_kept() -> None:
    strip = Image.new("L", (1, 100))
    strip.frombytes(bytes(range(100)))
    kept = within_aspect(strip, max_ratio=2.5)
    assert kept.size == (1, 2)
    assert kept.tobytes() == bytes([49, 50])
    photo = Image.new("RGB", (30, 20))
    assert within_aspect(photo, max_ratio=20) is photo  # within: not even copied
