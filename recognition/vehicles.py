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

from config import Settings
from errors import AppError, InvalidImage
from recognition.base import (
    DEFAULT_INPUT_SIDE,
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
from recognition.crops import crop_decoded, decode, decode_cost, open_ref
from storage.aspect import within_aspect
from storage.decode import without_paths
from storage.decode_pool import MB, DecodePool, decoded_bytes

if TYPE_CHECKING:
    from recognition.detector import Detector

# Colour needs few pixels: a photo is decoded for it at this size.
_COLOR_FIT = 128
# A vehicle's region is decoded at least this large (its short side), the
# input of the usual classifiers; one that needs more decodes it again itself.
_CROP_FIT = 224


class VehicleRecognizer:
    def __init__(
        self, classifier: Recognizer, settings: Settings, *, decoder: DecodePool | None = None
    ) -> None:
        """`decoder`: the server's decode pool; without one, its own."""
        self.classifier = classifier
        self.backend = classifier.backend
        self.model_id = classifier.model_id
        self._max_ratio = settings.max_aspect_ratio
        self._own_decoder = decoder is None
        self._decoder = decoder or DecodePool(memory_bytes=settings.decode_memory_mb * MB)
        self.detector: Detector | None = None
        if settings.detector:
            # Imported here: torch is not needed when nothing runs locally.
            from recognition.detector import Detector

            self.detector = Detector(settings, decoder=self._decoder)

    @property
    def input_side(self) -> int:
        """The classifier's input side, for choosing what to decode."""
        side = getattr(self.classifier, "input_side", DEFAULT_INPUT_SIDE)
        return side if isinstance(side, int) else DEFAULT_INPUT_SIDE

    async def start(self) -> None:
        await self.classifier.start()
        if self.detector is not None:
            await self.detector.start()

    async def close(self) -> None:
        await self.classifier.close()
        if self.detector is not None:
            await self.detector.close()
        if self._own_decoder:
            self._decoder.close()

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
            return list(await asyncio.gather(*map(self._with_color, images, outcomes)))
        detector = self.detector
        return list(await asyncio.gather(*(self._each_vehicle(detector, ref) for ref in images)))

    async def _with_color(
        self, ref: ImageRef, outcome: Recognition | AppError
    ) -> Recognition | AppError:
        """A colour from the pixels for a backend that names none (the remote one)."""
        if isinstance(outcome, AppError) or outcome.color is not None:
            return outcome
        started = time.perf_counter()
        try:
            color = await self._decoder.run(
                lambda: _color_of(ref, self._max_ratio), cost=decode_cost(ref, fit=_COLOR_FIT)
            )
        except (OSError, ValueError):
            return outcome  # the classifier read it; a colour is a bonus
        return dataclasses.replace(
            outcome, color=color, elapsed_ms=outcome.elapsed_ms + _since(started)
        )

    async def _each_vehicle(self, detector: Detector, ref: ImageRef) -> Recognition | AppError:
        started = time.perf_counter()
        try:
            decoded, found = await detector.detect(ref)
        except (OSError, ValueError) as exc:
            # OSError's message names the file: never show the server's paths
            return InvalidImage(f"The stored image could not be decoded: {without_paths(str(exc))}")
        whole = dataclasses.replace(ref, decoded=decoded)
        if not found:  # no vehicle: the whole photo, as without a detector
            [outcome] = await self.classifier.recognize([whole])
            if isinstance(outcome, AppError):
                return outcome
            color = outcome.color or await self._decoder.run(
                lambda: _color_of(whole, self._max_ratio), cost=decode_cost(whole, fit=_COLOR_FIT)
            )
            return dataclasses.replace(
                outcome,
                color=color,
                detector=detector.model_id,
                elapsed_ms=_since(started),
            )
        # The main vehicle first: the largest box (the most confident on a tie).
        found = sorted(found, key=lambda d: (d.box.area, d.score), reverse=True)
        boxes = [d.box for d in found]
        sharp = await self._decoder.run(
            lambda: _sharp_enough(whole, boxes),
            cost=decoded_bytes(ref.width, ref.height) if ref.width else None,
        )
        crops = [dataclasses.replace(ref, decoded=sharp, box=d.box) for d in found]
        outcomes = await self.classifier.recognize(crops)
        for outcome in outcomes:
            if isinstance(outcome, AppError):
                return outcome
        recognitions = [o for o in outcomes if isinstance(o, Recognition)]
        colors = await self._decoder.run(
            lambda: _colors(crops, recognitions, self._max_ratio), cost=0
        )
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


def _color_of(ref: ImageRef, max_ratio: float) -> ColorGuess:
    """The colour of what the classifier read (open_ref's region)."""
    if ref.decoded is not None:  # colour needs no more pixels than the decode has
        region = crop_decoded(ref.decoded, ref.box)
        return pixel_color(within_aspect(region, max_ratio=max_ratio))
    return pixel_color(open_ref(ref, fit=_COLOR_FIT, max_ratio=max_ratio))


def _colors(
    crops: list[ImageRef], recognitions: list[Recognition], max_ratio: float
) -> list[ColorGuess]:
    return [
        r.color or _color_of(ref, max_ratio) for ref, r in zip(crops, recognitions, strict=True)
    ]


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
