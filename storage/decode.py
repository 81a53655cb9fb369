"""Decoding a stored image for looking at it: upright, RGB, no bigger than needed.

Run it on the decode pool (storage/decode_pool.py): a large PNG holds all its
pixels while it is read, whatever is done with them after.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

from PIL import Image

# EXIF orientation -> the transpose that shows the image upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Rows are shrunk a strip at a time, so a mode conversion (or the premultiplied
# copy Pillow makes to reduce RGBA) copies one strip, never the whole image.
_STRIP_BYTES = 4 * 1024 * 1024


def open_upright_rgb(source: Path | BinaryIO, *, fit: int) -> Image.Image:
    """The image, EXIF orientation applied, transparency flattened onto white, and
    no smaller than `fit` x `fit` unless it was smaller to begin with.

    JPEGs are decoded at the smallest of their built-in scales (1/2, 1/4, 1/8)
    that still covers `fit` x `fit`: a 12-megapixel photo costs about a quarter
    of a full decode. Other formats are decoded whole, then shrunk by a whole
    factor (box averaging), strip by strip, before anything else copies them:
    the peak is the decoded image, once.
    """
    with Image.open(source) as img:
        img.draft("RGB", (fit, fit))
        orientation = img.getexif().get(0x0112, 1)
        img.load()
        alpha = img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)
        work_mode = "RGBA" if alpha else "RGB"
        factor = min(img.width // fit, img.height // fit)
        if factor >= 2:
            small = _reduce(img, factor, work_mode)
        else:
            small = img if img.mode == work_mode else img.convert(work_mode)
    # The full-size pixels are gone here: what is left is at most 2*fit a side.
    if orientation in _UPRIGHT:
        small = small.transpose(_UPRIGHT[orientation])
    if alpha:
        flat = Image.new("RGB", small.size, (255, 255, 255))
        flat.paste(small, mask=small.getchannel("A"))
        return flat
    return small


def preview(
    img: Image.Image, orientation: int, *, side: int, full: tuple[int, int] | None = None
) -> Image.Image:
    """A decoded (loaded) image as recognition reads it: upright RGB,
    transparency flattened onto white, the longest side at most `side`. Shrunk
    by a whole factor first (box averaging) to between 1.5 and 3 times `side`,
    then resampled with Lanczos: within a grey level of a Lanczos resize of the
    whole image, at a sixth of its cost on 12 megapixels (20 ms). An RGB image
    (any JPEG in colour) is reduced in one call, with no copy; others strip by
    strip, as above. `full`: the image's own size, where it was decoded at a
    reduced scale (which rounds up), so the preview keeps the original's shape."""
    alpha = img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info)
    work_mode = "RGBA" if alpha else "RGB"
    factor = max(img.width, img.height) // (side * 3 // 2)
    if factor >= 2 and img.mode == work_mode == "RGB":
        small = img.reduce(factor)
    elif factor >= 2:
        small = _reduce(img, factor, work_mode)
    else:
        small = img if img.mode == work_mode else img.convert(work_mode)
    # The size follows from the original's, not a reduced one's (rounded up).
    width, height = full or img.size
    scale = side / max(width, height)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = small.resize(size, Image.Resampling.LANCZOS)
    if orientation in _UPRIGHT:
        small = small.transpose(_UPRIGHT[orientation])
    if alpha:
        flat = Image.new("RGB", small.size, (255, 255, 255))
        flat.paste(small, mask=small.getchannel("A"))
        return flat
    return small if small is not img else img.copy()


def _reduce(img: Image.Image, factor: int, mode: str) -> Image.Image:
    """`img` shrunk `factor` times in `mode`: what img.convert(mode).reduce(factor)
    gives, with strips cut at multiples of `factor` so that no box straddles two."""
    width, height = img.size
    rows = max(factor, _STRIP_BYTES // (4 * width) // factor * factor)
    out = Image.new(mode, (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        strip = img.crop((0, top, width, min(top + rows, height)))
        if strip.mode != mode:
            strip = strip.convert(mode)
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


# Pillow and the OS put file names in their messages ("cannot identify image
# file '/srv/uploads/tmp/....part'"); a client must never see the server's paths.
_QUOTED_PATH = re.compile(r"""(['"])(?:[A-Za-z]:)?[/\\][^'"]*\1""")
_BARE_PATH = re.compile(r"(?<![\w.])(?:/[\w.+@%~-]+){2,}/?")


def without_paths(message: str) -> str:
    """`message` with every file path in it left out."""
    message = _BARE_PATH.sub("", _QUOTED_PATH.sub("", message))
    return " ".join(message.split()).strip(" :,")
