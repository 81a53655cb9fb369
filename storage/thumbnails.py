"""Small JPEG previews, upright and in RGB, made once per image and size."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from storage.decode import open_upright_rgb


def make_thumbnail(source: BinaryIO, dest: Path, *, size: int, scratch: Path) -> None:
    """Write the thumbnail of the open image `source` to `dest`, by way of
    `scratch` (a path on the same file system), so readers see no thumbnail or
    a whole one. Run it on the decode pool."""
    image = open_upright_rgb(source, fit=size * 2)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    try:
        image.save(scratch, "JPEG", quality=85, optimize=True)
        os.replace(scratch, dest)
    finally:
        scratch.unlink(missing_ok=True)
