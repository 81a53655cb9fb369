"""Synthetic photos of cars of a known colour: a body with shading, windows,
wheels, a shadow, on a road under a sky or beside greenery, with sensor noise."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

# A typical paint of each named colour (sRGB).
PAINTS: dict[str, tuple[int, int, int]] = {
    "white": (236, 238, 240),
    "black": (22, 24, 28),
    "grey": (105, 108, 112),
    "silver": (178, 182, 186),
    "red": (185, 22, 30),
    "blue": (28, 62, 160),
    "green": (30, 110, 50),
    "yellow": (235, 200, 30),
    "orange": (235, 115, 25),
    "brown": (100, 64, 38),
    "beige": (212, 192, 156),
}


def car(
    paint: tuple[int, int, int],
    *,
    width: int = 320,
    height: int = 200,
    noise: float = 0.0,
    shade: float = 1.0,
    background: str = "street",
    seed: int = 0,
) -> Image.Image:
    """A side view of a car filling most of the frame. `shade` darkens the
    lower body (light from above); `noise` is the pixel noise's standard deviation."""
    sky, ground = {
        "street": ((150, 190, 230), (90, 90, 92)),
        "park": ((120, 160, 90), (80, 110, 60)),
        "plain": ((250, 250, 250), (250, 250, 250)),
    }[background]
    img = Image.new("RGB", (width, height), sky)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, int(height * 0.7), width, height), fill=ground)
    body = (int(width * 0.06), int(height * 0.38), int(width * 0.94), int(height * 0.8))
    cabin = (int(width * 0.24), int(height * 0.14), int(width * 0.76), int(height * 0.42))
    draw.ellipse((body[0], int(height * 0.84), body[2], int(height * 0.92)), fill=(30, 30, 30))
    draw.rounded_rectangle(cabin, radius=int(height * 0.08), fill=paint)
    draw.rounded_rectangle(body, radius=int(height * 0.06), fill=paint)
    window = (cabin[0] + 10, cabin[1] + 8, cabin[2] - 10, cabin[3] - 2)
    draw.rectangle(window, fill=(40, 50, 60))
    for cx in (int(width * 0.25), int(width * 0.75)):
        r = int(height * 0.12)
        draw.ellipse((cx - r, body[3] - r, cx + r, body[3] + r), fill=(20, 20, 20))
    pixels = np.asarray(img, dtype=np.float64)
    rows = np.linspace(1.0, shade, height)[:, None, None]  # darker toward the bottom
    pixels = pixels * rows
    if noise:
        pixels = pixels + np.random.default_rng(seed).normal(0, noise, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()
