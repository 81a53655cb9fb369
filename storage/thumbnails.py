"""Small JPEG previews, upright and in RGB, made once per image and size."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from PIL import Image

from storage.decode import open_upright_rgb


def make_thumbnail(source: BinaryIO, dest: Path, *, size: int) -> None:
    """Write the thumbnail of the open image `source` to `dest`, a scratch file
    of this process's own (the caller then puts it in the object store, which
    readers see whole or not at all). Run it on the decode pool."""
    image = open_upright_rgb(source, fit=size * 2)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    image.save(dest, "JPEG", quality=85, optimize=True)
