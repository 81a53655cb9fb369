"""The pixel colour of a vehicle, on photos of known colour: synthetic cars of
each named colour, plain and noisy, lit and shaded, on several backgrounds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from recognition.color import COLORS, pixel_color, srgb_to_lab
from tests.car_images import PAINTS, car

SHADES = (1.0, 0.85, 0.7)  # 0.7: the lower body at 70% of the light
NOISES = (0.0, 12.0, 25.0)
BACKGROUNDS = ("street", "park", "plain")
SIZES = ((320, 200), (120, 90))


def test_every_named_colour_has_a_paint() -> None:
    assert set(PAINTS) == set(COLORS)


@pytest.mark.parametrize("name", list(PAINTS))
def test_cars_of_each_colour_are_named_right_in_light_shade_and_noise(name: str) -> None:
    wrong = []
    cases = list(itertools.product(SHADES, NOISES, BACKGROUNDS, SIZES))
    for seed, (shade, noise, background, (width, height)) in enumerate(cases):
        image = car(
            PAINTS[name],
            width=width,
            height=height,
            shade=shade,
            noise=noise,
            background=background,
            seed=seed,
        )
        guess = pixel_color(image)
        if guess.name != name:
            wrong.append((shade, noise, background, width, guess))
        assert 0 < guess.confidence <= 1
    assert wrong == [], f"{len(wrong)} of {len(cases)} {name} cars misnamed"


@pytest.mark.parametrize("name", list(PAINTS))
def test_a_solid_patch_is_named_with_full_confidence(name: str) -> None:
    guess = pixel_color(Image.new("RGB", (50, 40), PAINTS[name]))
    assert (guess.name, guess.confidence) == (name, 1.0)


def test_a_car_that_fills_its_box_is_not_taken_for_background() -> None:
    # A tight crop: body colour right up to the edges.
    guess = pixel_color(Image.new("RGB", (90, 60), PAINTS["silver"]))
    assert guess.name == "silver"


def test_the_background_around_a_small_car_does_not_win() -> None:
    # A small red car in the middle of a grey road: the border is road.
    image = Image.new("RGB", (200, 140), (95, 95, 98))
    image.paste(car(PAINTS["red"], width=120, height=80, background="plain"), (40, 30))
    assert pixel_color(image).name == "red"


def test_shade_lowers_confidence_between_white_and_silver_but_keeps_the_name() -> None:
    lit = pixel_color(car(PAINTS["white"]))
    shaded = pixel_color(car(PAINTS["white"], shade=0.7, noise=12))
    assert lit.name == shaded.name == "white"
    assert shaded.confidence <= lit.confidence


def test_cielab_of_known_colours() -> None:
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]]))
    assert lab[0] == pytest.approx([100, 0, 0], abs=0.05)
    assert lab[1] == pytest.approx([0, 0, 0], abs=0.05)
    assert lab[2] == pytest.approx([53.24, 80.09, 67.20], abs=0.05)
