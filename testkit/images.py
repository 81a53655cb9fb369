"""Images for the benchmarks, made on the spot."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def photo_like(
    width: int,
    height: int,
    *,
    grain: float = 12,
    seed: int = 0,
    fmt: str = "JPEG",
    quality: int = 90,
) -> bytes:
    """Smooth shading plus grain: compresses and decodes like a photo, unlike
    flat colour (too cheap) or pure noise (too dear). More grain, more bytes."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    ones = np.ones((height, width), dtype=np.float32)
    tint = rng.uniform(0.5, 1.5, 3)
    base = np.stack(
        [
            (x * 200 + y * 40) * tint[0],
            (y * 180 + 30) * ones * tint[1],
            ((1 - x) * 150 + y * 60) * tint[2],
        ],
        axis=-1,
    )
    pixels = np.clip(base + rng.normal(0, grain, (height, width, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(pixels).save(out, fmt, quality=quality)
    else:
        Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()
