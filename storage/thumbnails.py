"""Small JPEG previews, upright and in RGB, made once per image and size."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from PIL import Image, ImageOps


def make_thumbnail(source: Path, dest: Path, *, size: int) -> None:
    with Image.open(source) as img:
        # draft() lets the JPEG decoder skip to a smaller scale: far cheaper than
        # decoding 12 megapixels to throw most of them away.
        img.draft("RGB", (size * 2, size * 2))
        upright = ImageOps.exif_transpose(img)
        upright.thumbnail((size, size), Image.Resampling.LANCZOS)
        if upright.mode in ("RGBA", "LA", "P"):
            upright = upright.convert("RGBA")
            background = Image.new("RGB", upright.size, (255, 255, 255))
            background.paste(upright, mask=upright.getchannel("A"))
            upright = background
        elif upright.mode != "RGB":
            upright = upright.convert("RGB")
        temp = dest.with_name(f".{uuid.uuid4().hex}.tmp")
        try:
            upright.save(temp, "JPEG", quality=85, optimize=True)
            os.replace(temp, dest)  # readers see the old state or a whole thumbnail
        finally:
            temp.unlink(missing_ok=True)
