"""Decoding a stored image for looking at it: upright, RGB, no bigger than needed."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps


def open_upright_rgb(path: Path, *, fit: int) -> Image.Image:
    """The image, EXIF orientation applied, transparency flattened onto white.

    JPEGs are decoded at the smallest of their built-in scales (1/2, 1/4, 1/8)
    that still covers `fit` x `fit`: a 12-megapixel photo costs about a quarter
    of a full decode, and anything that will be shrunk to `fit` loses nothing.
    """
    with Image.open(path) as img:
        img.draft("RGB", (fit, fit))
        upright = ImageOps.exif_transpose(img)
    if upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    ):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return upright if upright.mode == "RGB" else upright.convert("RGB")
