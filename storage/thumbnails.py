"""Small JPEG previews, upright and in RGB, made once per image and size."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from PIL import Image

from storage.decode import open_upright_rgb


def make_thumbnail(source: Path, dest: Path, *, size: int) -> None:
    image = open_upright_rgb(source, fit=size * 2)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    temp = dest.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        image.save(temp, "JPEG", quality=85, optimize=True)
        os.replace(temp, dest)  # readers see no thumbnail or a whole one
    finally:
        temp.unlink(missing_ok=True)
