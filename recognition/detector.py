"""Finding the vehicles of a photo: a transformers object-detection model (DETR,
YOLOS, ...; a Hub id or a local folder), of whose classes COCO's car, truck, bus
and motorcycle are kept.

It is run the way the local recognizer runs its model (recognition/local.py):
loaded once, on first use or at start-up with PRELOAD_MODEL; decoding and
preprocessing in worker threads; photos that arrive together batched; the
forward pass in one dedicated thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoImageProcessor, AutoModelForObjectDetection
from transformers.utils import logging as hf_logging

from config import Settings
from recognition.base import Box, DecodedImage, ImageRef, VehicleKind
from recognition.batcher import MicroBatcher
from recognition.crops import decode, detector_view
from recognition.loading import LazyModel
from recognition.local import _input_side, _with_precision, resolve_engine
from storage.decode_pool import MB, DecodePool, decoded_bytes

log = logging.getLogger("cars.detector")

# COCO's vehicle classes under the names detection models give them.
KINDS: dict[str, VehicleKind] = {
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "motorcycle": "motorcycle",
    "motorbike": "motorcycle",
}
# Smaller boxes hold too few pixels to classify.
MIN_SIDE = 8
# The short side the detector's input keeps at least, whatever the photo's
# shape: YOLOS rounds its sides down to multiples of 16 (a side under 16 becomes
# 0, an error from inside transformers), and 32 is DETR's backbone stride.
MIN_INPUT_SIDE = 32


@dataclass(frozen=True)
class Detection:
    box: Box  # in pixels of the photo as displayed
    score: float
    kind: VehicleKind


@dataclass(frozen=True)
class _Prepared:
    inputs: dict[str, torch.Tensor]
    # What the detector saw, in full-size pixels of the photo: all of it, or
    # its central part within MAX_ASPECT_RATIO. Boxes are put back from it.
    seen: Box


class Detector(LazyModel):
    kind = "detector"
    log_name = "cars.detector"

    def __init__(self, settings: Settings, *, decoder: DecodePool | None = None) -> None:
        """`decoder`: the server's decode pool; without one, its own."""
        assert settings.detector, "DETECTOR is not set"
        self.model_id = settings.detector
        self._own_decoder = decoder is None
        self._decoder = decoder or DecodePool(memory_bytes=settings.decode_memory_mb * MB)
        self._settings = settings
        self._processor: Any = None
        self._kinds: dict[int, VehicleKind] = {}
        self._fit = 800
        self._max_ratio = settings.max_aspect_ratio  # and what the processor can take
        self._dtype = torch.float32
        # The detector always runs on torch (its precision as PRECISION says).
        _, self.precision = resolve_engine("torch", settings.precision)
        super().__init__()
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detector")
        self._batcher: MicroBatcher[_Prepared, list[Detection]] = MicroBatcher(
            self._run_batch,
            max_size=settings.infer_batch_size,
            max_wait=settings.infer_batch_wait_ms / 1000,
        )

    def _named(self) -> str:
        return f"detector {self.model_id}"

    async def detect(self, ref: ImageRef) -> tuple[DecodedImage, list[Detection]]:
        """The photo, decoded once (large enough for the detector, and for the
        crops), and the vehicles in it, most confident first. Raises OSError or
        ValueError when the image cannot be decoded."""
        await self._ensure_loaded()
        cost = decoded_bytes(ref.width, ref.height, fit=self._fit) if ref.width else None
        with self._batcher.coming():
            decoded, prepared = await self._decoder.run(lambda: self._prepare(ref), cost=cost)
        return decoded, await self._batcher.submit(prepared)

    def _prepare(self, ref: ImageRef) -> tuple[DecodedImage, _Prepared]:
        # The whole photo is handed on (the vehicles are cropped from it); the
        # detector sees its central part within MAX_ASPECT_RATIO, or within what
        # its processor can take: YOLOS's made a 1 x 4000 strip 0 pixels wide.
        decoded = decode(ref, fit=self._fit)
        pixels, seen = detector_view(decoded, max_ratio=self._max_ratio)
        inputs = self._processor(images=[pixels], return_tensors="pt")
        tensors = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        return decoded, _Prepared(tensors, seen)

    async def _run_batch(self, batch: list[_Prepared]) -> list[list[Detection]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._model_thread, self._forward, batch)

    def _forward(self, batch: list[_Prepared]) -> list[list[Detection]]:
        # Photos of one shape run together; others (another aspect ratio) alone,
        # so that no photo is padded and each gets what it would get by itself.
        groups: dict[tuple[tuple[int, ...], ...], list[int]] = {}
        for index, item in enumerate(batch):
            shapes = tuple(tuple(t.shape) for t in item.inputs.values())
            groups.setdefault(shapes, []).append(index)
        found: list[list[Detection]] = [[] for _ in batch]
        for indices in groups.values():
            items = [batch[i] for i in indices]
            inputs = {
                key: torch.cat([item.inputs[key] for item in items]) for key in items[0].inputs
            }
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(self._dtype)
            with torch.inference_mode():
                outputs = self._model(**inputs)
                for key in ("logits", "pred_boxes"):
                    if getattr(outputs, key, None) is not None:
                        setattr(outputs, key, getattr(outputs, key).float())
                results = self._processor.post_process_object_detection(
                    outputs,
                    threshold=self._settings.detector_threshold,
                    target_sizes=[(item.seen.height, item.seen.width) for item in items],
                )
            for index, item, result in zip(indices, items, results, strict=True):
                found[index] = self._vehicles(result, item.seen)
        return found

    def _vehicles(self, result: dict[str, torch.Tensor], seen: Box) -> list[Detection]:
        """Vehicles in `result`, whose boxes are in pixels of `seen`, with boxes
        in the photo's own pixels."""
        width, height = seen.width, seen.height
        vehicles = []
        scores: list[float] = result["scores"].tolist()
        labels: list[int] = result["labels"].tolist()
        corners: list[list[float]] = result["boxes"].tolist()
        for score, label, (x0, y0, x1, y1) in zip(scores, labels, corners, strict=True):
            kind = self._kinds.get(int(label))
            if kind is None:
                continue
            left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
            right, bottom = min(width, math.ceil(x1)), min(height, math.ceil(y1))
            if right - left < MIN_SIDE or bottom - top < MIN_SIDE:
                continue
            box = Box(seen.x + left, seen.y + top, right - left, bottom - top)
            vehicles.append(Detection(box, float(score), kind))
        vehicles.sort(key=lambda d: d.score, reverse=True)
        return vehicles[: self._settings.detector_max_vehicles]

    def _load(self) -> None:
        started = time.perf_counter()
        torch.set_num_threads(self._settings.torch_threads or os.cpu_count() or 1)
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        processor = AutoImageProcessor.from_pretrained(self.model_id)  # type: ignore[no-untyped-call]
        model = AutoModelForObjectDetection.from_pretrained(self.model_id)
        labels = {int(k): str(v).lower() for k, v in (model.config.id2label or {}).items()}
        kinds = {i: KINDS[name] for i, name in labels.items() if name in KINDS}
        if not kinds:
            raise ValueError(f"the model detects none of {', '.join(sorted(set(KINDS)))}")
        self._fit = _input_side(processor)
        self._max_ratio = min(self._settings.max_aspect_ratio, _processor_ratio(processor))
        model, self._dtype = _with_precision(model.eval(), self.precision)
        self._processor, self._kinds, self._model = processor, kinds, model
        log.info(
            "loaded detector %s (torch %s) in %.1f s",
            self.model_id,
            self.precision,
            time.perf_counter() - started,
        )

    def _unavailable_message(self) -> str:
        return (
            f"The detection model '{self.model_id}' could not be loaded ({self._failure}). "
            "Set DETECTOR to a local folder holding a transformers object-detection model "
            "(config.json, weights, preprocessor_config.json), or unset it to classify "
            "whole photos."
        )


def _processor_ratio(processor: Any) -> float:
    """The most elongated shape the processor keeps MIN_INPUT_SIDE pixels of on
    its short side: one that fits the long side into N pixels (YOLOS and DETR's
    `longest_edge`, or a `max_height` x `max_width` box) can take N / 32 : 1
    (41:1 for DETR's 1333). One that resizes to a fixed size takes any shape."""
    size = getattr(processor, "size", None)
    sides = []
    for key in ("longest_edge", "max_height", "max_width"):
        value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        if isinstance(value, int):
            sides.append(value)
    return max(1.0, min(sides) / MIN_INPUT_SIDE) if sides else math.inf
