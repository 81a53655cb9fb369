"""A vehicle's colour from its pixels, for when no zero-shot model names it.

The pixels of the central region of the vehicle's box (where its body panels
are; the edges hold road, sky and neighbours, the bottom the tyres and shadow)
vote, each for the named colour whose prototype is nearest in CIELAB, weighted
toward the centre. Background is left out: pixels close to the colour of the
box's border, unless that would leave almost nothing (a box filled with car).
Pixels with little chroma vote for "a shade of grey", the others for their
nearest chromatic name. When grey wins, white, silver, grey or black is picked
by the lightness of the light side of those pixels (shade only darkens paint).
The confidence is the winner's share of the votes (for a grey, times the share
of grey pixels that are that grey themselves, at least half of it).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from recognition.base import ColorGuess

COLORS = (
    "white",
    "black",
    "grey",
    "silver",
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "brown",
    "beige",
)

# Below this chroma (CIELAB C*) a pixel is a shade of grey: cars that look
# white, silver or black have a little tint from the sky or the street.
CHROMA_FLOOR = 13.0
# Lightness (L*) borders of the achromatic names. Silver is a light grey
# (metallic paint reads about L* 65-80 in daylight); white is brighter.
WHITE_FROM = 80.0
SILVER_FROM = 60.0
GREY_FROM = 30.0

# Chromatic prototypes (sRGB), several per name: paint comes light and dark.
_PROTOTYPES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "red": ((200, 25, 30), (140, 15, 25), (230, 60, 60)),
    "blue": ((30, 70, 180), (20, 35, 95), (90, 140, 210)),
    "green": ((35, 130, 55), (25, 75, 45), (120, 180, 100)),
    "yellow": ((240, 210, 30), (230, 190, 60), (250, 235, 120)),
    "orange": ((240, 120, 20), (210, 90, 20), (250, 160, 70)),
    "brown": ((110, 70, 40), (75, 50, 35), (150, 100, 60)),
    "beige": ((215, 195, 160), (200, 180, 140), (230, 215, 185)),
}

_SIDE = 64  # the region is scaled down to at most this: colour needs no detail
_BACKGROUND_DELTA = 12.0  # CIELAB distance to the border colour that counts as background
_KEEP_AT_LEAST = 0.5  # background removal never leaves less than this share


def srgb_to_lab(rgb: NDArray[np.floating] | NDArray[np.uint8]) -> NDArray[np.float64]:
    """sRGB (0-255, shape (..., 3)) to CIELAB under D65."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lightness = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


_NAMES = [name for name, shades in _PROTOTYPES.items() for _ in shades]
_LABS = srgb_to_lab(np.array([rgb for shades in _PROTOTYPES.values() for rgb in shades]))


def pixel_color(image: Image.Image) -> ColorGuess:
    """The named colour of a vehicle image (a crop of its box, or a whole photo)."""
    small = image.convert("RGB")
    small.thumbnail((_SIDE, _SIDE))
    lab = srgb_to_lab(np.asarray(small))
    height, width = lab.shape[:2]
    # The central region: the middle 60% across, from 20% to 75% down.
    top, bottom = int(height * 0.20), max(int(height * 0.20) + 1, int(height * 0.75))
    left, right = int(width * 0.20), max(int(width * 0.20) + 1, int(width * 0.80))
    centre = lab[top:bottom, left:right].reshape(-1, 3)
    ys, xs = np.mgrid[top:bottom, left:right]
    # Centre-weighted: the middle of the body counts most.
    dy = (ys - (height - 1) / 2) / max(1.0, height / 4)
    dx = (xs - (width - 1) / 2) / max(1.0, width / 4)
    weights = np.exp(-(dx**2 + dy**2) / 2).reshape(-1) * _foreground(lab, centre)
    total = float(weights.sum())
    if total <= 0:
        return ColorGuess("grey", 0.0)
    names = _nearest_names(centre)
    achromatic = names == ""
    votes = {name: float(weights[names == name].sum()) for name in _PROTOTYPES}
    grey_votes = float(weights[achromatic].sum())
    hue = max(votes, key=lambda name: votes[name])
    if votes[hue] > grey_votes:
        return ColorGuess(hue, round(votes[hue] / total, 4))
    # A shade of grey: which one, by the light side of its pixels, since shade
    # and shadow only ever darken paint (a white car is partly grey in shade).
    shade = _grey_name(_weighted_quantile(centre[achromatic, 0], weights[achromatic], 0.9))
    own = float(weights[achromatic & (_grey_names(centre[:, 0]) == shade)].sum())
    return ColorGuess(shade, round(grey_votes / total * max(own / grey_votes, 0.5), 4))


def _foreground(lab: NDArray[np.float64], centre: NDArray[np.float64]) -> NDArray[np.float64]:
    """1 for pixels of the centre that do not look like the box's border."""
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    background = np.median(border, axis=0)
    spread = np.median(np.linalg.norm(border - background, axis=1))
    if spread > _BACKGROUND_DELTA:  # a busy border: no one background colour
        return np.ones(len(centre))
    keep = np.linalg.norm(centre - background, axis=1) > _BACKGROUND_DELTA
    if keep.mean() < _KEEP_AT_LEAST:  # the car fills the box up to its edges
        return np.ones(len(centre))
    weights: NDArray[np.float64] = keep.astype(np.float64)
    return weights


def _nearest_names(lab: NDArray[np.float64]) -> NDArray[np.str_]:
    """Each pixel's nearest chromatic name, or "" for a shade of grey."""
    lightness = lab[:, 0]
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    distances = np.linalg.norm(lab[:, None, :] - _LABS[None, :, :], axis=2)
    tinted = np.array(_NAMES)[distances.argmin(axis=1)]
    # In dark pixels noise and reflections make chroma up: ask for more.
    floor = CHROMA_FLOOR * np.maximum(1.0, 25.0 / np.maximum(lightness, 1.0))
    return np.where(chroma < floor, "", tinted)


def _grey_names(lightness: NDArray[np.float64]) -> NDArray[np.str_]:
    return np.select(
        [lightness >= WHITE_FROM, lightness >= SILVER_FROM, lightness >= GREY_FROM],
        ["white", "silver", "grey"],
        "black",
    )


def _grey_name(lightness: float) -> str:
    return str(_grey_names(np.array([lightness]))[0])


def _weighted_quantile(
    values: NDArray[np.float64], weights: NDArray[np.float64], q: float
) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1]))
    return float(values[order][min(index, len(values) - 1)])
