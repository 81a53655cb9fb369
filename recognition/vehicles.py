"""Recognition of whole photos or of each vehicle in them, with a colour.

Wraps whichever backend RECOGNIZER names (the classifier). With DETECTOR set,
each photo is decoded once, the detector finds its vehicles, and each vehicle's
region is classified on its own; the photo's own guesses are then those of the
main vehicle (the largest box), so that clients reading only them see what they
always saw. When no vehicle is found, the whole photo is classified.

Colour: the classifier's own, where it names one (the zero-shot backend by its
prompts, the local one from the pixels it decoded), else from the pixels here
(recognition/color.py), of each vehicle, or of the whole photo.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from config import Settings
from errors import AppError, InvalidImage
from recognition.base import (
    Box,
    ColorGuess,
    DecodedImage,
    ImageRef,
    Recognition,
    Recognizer,
    RecognizerStatus,
    Vehicle,
)
from recognition.color import pixel_color
from recognition.crops import crop_decoded, decode, open_ref

if TYPE_CHECKING:
    from recognition.detector import Detector

# Colour needs few pixels: a photo is decoded for it at this size.
_COLOR_FIT = 128
# A vehicle's region is decoded at least this large (its short side), the
# input of the usual classifiers; one that needs more decodes it again itself.
_CROP_FIT = 224


class VehicleRecognizer:
    def __init__(self, classifier: Recognizer, settings: Settings) -> None:
        self.classifier = classifier
        self.backend = classifier.backend
        self.model_id = classifier.model_id
        self.detector: Detector | None = None
        if settings.detector:
            # Imported here: torch is not needed when nothing runs locally.
            from recognition.detector import Detector

            self.detector = Detector(settings)

    async def start(self) -> None:
        await self.classifier.start()
        if self.detector is not None:
            await self.detector.start()

    async def close(self) -> None:
        await self.classifier.close()
        if self.detector is not None:
            await self.detector.close()

    def status(self) -> RecognizerStatus:
        mine = self.classifier.status()
        if self.detector is None:
            return mine
        theirs = self.detector.status()
        return RecognizerStatus(
            ready=mine.ready and theirs.ready,
            available=mine.available and theirs.available,
            detail=f"{mine.detail}; {theirs.detail}",
        )

    async def recognize(self, images: Sequence[ImageRef]) -> list[Recognition | AppError]:
        if self.detector is None:
            outcomes = await self.classifier.recognize(images)
            return list(await asyncio.gather(*map(_with_color, images, outcomes)))
        detector = self.detector
        return list(await asyncio.gather(*(self._each_vehicle(detector, ref) for ref in images)))

    async def _each_vehicle(self, detector: Detector, ref: ImageRef) -> Recognition | AppError:
        started = time.perf_counter()
        try:
            decoded, found = await detector.detect(ref)
        except (OSError, ValueError) as exc:
            return InvalidImage(f"The stored image could not be decoded: {exc}")
        whole = dataclasses.replace(ref, decoded=decoded)
        if not found:  # no vehicle: the whole photo, as without a detector
            [outcome] = await self.classifier.recognize([whole])
            if isinstance(outcome, AppError):
                return outcome
            color = outcome.color or await anyio.to_thread.run_sync(_color_of, whole)
            return dataclasses.replace(
                outcome,
                color=color,
                detector=detector.model_id,
                elapsed_ms=_since(started),
            )
        # The main vehicle first: the largest box (the most confident on a tie).
        found = sorted(found, key=lambda d: (d.box.area, d.score), reverse=True)
        sharp = await anyio.to_thread.run_sync(_sharp_enough, whole, [d.box for d in found])
        crops = [dataclasses.replace(ref, decoded=sharp, box=d.box) for d in found]
        outcomes = await self.classifier.recognize(crops)
        for outcome in outcomes:
            if isinstance(outcome, AppError):
                return outcome
        recognitions = [o for o in outcomes if isinstance(o, Recognition)]
        colors = await anyio.to_thread.run_sync(_colors, crops, recognitions)
        vehicles = [
            Vehicle(box=d.box, score=d.score, kind=d.kind, guesses=r.guesses, color=c)
            for d, r, c in zip(found, recognitions, colors, strict=True)
        ]
        return dataclasses.replace(
            recognitions[0],
            color=vehicles[0].color,
            vehicles=vehicles,
            detector=detector.model_id,
            elapsed_ms=_since(started),
        )


async def _with_color(ref: ImageRef, outcome: Recognition | AppError) -> Recognition | AppError:
    if isinstance(outcome, AppError) or outcome.color is not None:
        return outcome
    started = time.perf_counter()
    try:
        color = await anyio.to_thread.run_sync(_color_of, ref)
    except (OSError, ValueError):
        return outcome  # the classifier read it; a colour is a bonus
    return dataclasses.replace(
        outcome, color=color, elapsed_ms=outcome.elapsed_ms + _since(started)
    )


def _sharp_enough(whole: ImageRef, boxes: list[Box]) -> DecodedImage:
    """The photo as decoded for the detector, or, when a vehicle is too small
    in it to fill a classifier's input, decoded once more at the scale the
    smallest one needs (at most full size), for all of them."""
    decoded = whole.decoded
    assert decoded is not None
    scale = decoded.pixels.width / decoded.full_width
    short = max(1, min(min(box.width, box.height) for box in boxes))
    if scale >= 1 or short * scale >= _CROP_FIT:
        return decoded
    return decode(
        whole, fit=math.ceil(_CROP_FIT * min(decoded.full_width, decoded.full_height) / short)
    )


def _color_of(ref: ImageRef) -> ColorGuess:
    if ref.decoded is not None:  # colour needs no more pixels than the decode has
        return pixel_color(crop_decoded(ref.decoded, ref.box))
    return pixel_color(open_ref(ref, fit=_COLOR_FIT))


def _colors(crops: list[ImageRef], recognitions: list[Recognition]) -> list[ColorGuess]:
    return [r.color or _color_of(ref) for ref, r in zip(crops, recognitions, strict=True)]


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
