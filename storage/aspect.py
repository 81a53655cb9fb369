"""How far an image's sides may differ: one rule (MAX_ASPECT_RATIO) for uploads
and for every model that reads pixels.

Image processors resize the short side to the model's input (CLIP-style
`shortest_edge`) or the long side to a maximum (YOLOS/DETR `longest_edge`): on a
1 x 2000 panorama the first makes a 224 x 448,000 array (1.2 GB), the second a
0-pixel side (an error from inside transformers). Uploads over the ratio are
refused from the header, before anything is decoded (`check_aspect`); what
recognition reads (files stored before the rule, a detector's thin box) is
cut to its central part within the ratio (`central_box`, `within_aspect`)
before any processor sees it.
"""

from __future__ import annotations

import math

from PIL import Image

from errors import InvalidImage


def over_ratio(width: int, height: int, *, max_ratio: float) -> bool:
    """Whether one side is more than `max_ratio` times the other."""
    return max(width, height) > max_ratio * max(1, min(width, height))


def check_aspect(width: int, height: int, *, max_ratio: float) -> None:
    """Raise InvalidImage, saying why, when one side is more than `max_ratio`
    times the other."""
    if not over_ratio(width, height, max_ratio=max_ratio):
        return
    ratio = max(width, height) / max(1, min(width, height))
    raise InvalidImage(
        f"The image is {width}×{height} pixels: its long side is {_times(ratio)} times its"
        f" short side; at most {_times(max_ratio)}:1 is accepted (MAX_ASPECT_RATIO)."
    )


def central_box(width: int, height: int, *, max_ratio: float) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the central part of a `width` x `height`
    image whose long side is at most `max_ratio` times its short side: the
    whole image when it already is."""
    if not over_ratio(width, height, max_ratio=max_ratio):
        return 0, 0, width, height
    if width > height:
        kept = max(1, math.floor(height * max_ratio))
        return (width - kept) // 2, 0, kept, height
    kept = max(1, math.floor(width * max_ratio))
    return 0, (height - kept) // 2, width, kept


def within_aspect(image: Image.Image, *, max_ratio: float) -> Image.Image:
    """`image` itself when within the ratio, else its central part that is."""
    left, top, width, height = central_box(image.width, image.height, max_ratio=max_ratio)
    if (width, height) == image.size:
        return image
    return image.crop((left, top, left + width, top + height))


def _times(ratio: float) -> str:
    # 60000 -> "60,000", 22.5 -> "22.5", 20.001 -> "20.001" (not "20", beside "at most 20")
    return f"{ratio:,.3f}".rstrip("0").rstrip(".")
