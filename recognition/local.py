"""The local backend: a Hugging Face image-classification model run in-process.

The model loads once, through the transformers Auto classes, from a Hub id or a
local folder: on first use, or at start-up with PRELOAD_MODEL. Each image is
decoded and preprocessed on the server's decode pool (at reduced size); requests
that arrive together are batched; the forward pass runs in one dedicated
thread, so the event loop keeps serving while the model works.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification
from transformers.utils import logging as hf_logging

from config import Settings
from errors import AppError, InvalidImage
from recognition import hub
from recognition.base import ColorGuess, Guess, ImageRef, Recognition
from recognition.batcher import MicroBatcher
from recognition.color import pixel_color
from recognition.crops import decode_cost, open_ref
from recognition.loading import LazyModel
from recognition.onnx_runtime import OnnxClassifier
from storage.decode import without_paths
from storage.decode_pool import MB, DecodePool

log = logging.getLogger("cars.recognizer")


class LocalRecognizer(LazyModel):
    backend = "local"

    def __init__(self, settings: Settings, *, decoder: DecodePool | None = None) -> None:
        """`decoder`: the server's decode pool; without one (the recognizer used
        on its own, as the benchmarks do) it makes its own."""
        self.model_id = settings.hf_model
        self._own_decoder = decoder is None
        self._decoder = decoder or DecodePool(memory_bytes=settings.decode_memory_mb * MB)
        self._settings = settings
        self._processor: Any = None
        self._labels: dict[int, str] = {}
        self._fit = 224
        self._dtype = torch.float32
        self._logits: Any = None
        self.runtime, self.precision = resolve_engine(settings.runtime, settings.precision)
        super().__init__()
        # One thread for the model: batches run one after another, each using
        # every core through torch's own threads.
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._batcher: MicroBatcher[torch.Tensor, tuple[list[Guess], float]] = MicroBatcher(
            self._run_batch,
            max_size=settings.infer_batch_size,
            max_wait=settings.infer_batch_wait_ms / 1000,
        )

    def _loaded_status(self) -> str:
        return f"{self.model_id} loaded ({self.engine})"

    async def recognize(self, images: Sequence[ImageRef]) -> list[Recognition | AppError]:
        await self._ensure_loaded()
        # Each image's expected failures come back as outcomes; only bugs raise.
        return list(await asyncio.gather(*(self._recognize_one(ref) for ref in images)))

    async def _recognize_one(self, ref: ImageRef) -> Recognition | AppError:
        started = time.perf_counter()
        cost = decode_cost(ref, fit=self._fit)
        try:
            with self._batcher.coming():  # a batch may wait for this one
                pixels, color = await self._decoder.run(lambda: self._preprocess(ref), cost=cost)
        except (OSError, ValueError) as exc:
            # OSError's message names the file: never show the server's paths
            return InvalidImage(f"The stored image could not be decoded: {without_paths(str(exc))}")
        decode_ms = (time.perf_counter() - started) * 1000
        guesses, model_ms = await self._batcher.submit(pixels)
        return Recognition(
            guesses=guesses,
            model_id=self.model_id,
            backend=self.backend,
            elapsed_ms=decode_ms + model_ms,
            color=color,
        )

    def _preprocess(self, ref: ImageRef) -> tuple[torch.Tensor, ColorGuess]:
        # The whole photo, or the box's region, within MAX_ASPECT_RATIO.
        image = open_ref(ref, fit=self._fit, max_ratio=self._settings.max_aspect_ratio)
        pixels: torch.Tensor = self._processor(images=[image], return_tensors="pt")["pixel_values"]
        # The colour from the same pixels (about 2 ms): no second decode for it.
        return pixels, pixel_color(image)

    async def _run_batch(self, batch: list[torch.Tensor]) -> list[tuple[list[Guess], float]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._model_thread, self._forward, batch)

    def _forward(self, batch: list[torch.Tensor]) -> list[tuple[list[Guess], float]]:
        started = time.perf_counter()
        with torch.inference_mode():
            logits = self._logits(torch.cat(batch).to(self._dtype))
            top = logits.float().softmax(dim=-1).topk(min(self._settings.top_k, logits.shape[-1]))
        share_ms = (time.perf_counter() - started) * 1000 / len(batch)
        scores: list[list[float]] = top.values.tolist()
        indices: list[list[int]] = top.indices.tolist()
        return [
            ([Guess(self._labels[i], p) for p, i in zip(ps, ids, strict=True)], share_ms)
            for ps, ids in zip(scores, indices, strict=True)
        ]

    @property
    def input_side(self) -> int:
        """The side the model's input is resized to (224 until it is loaded)."""
        return self._fit

    @property
    def engine(self) -> str:
        return f"{self.runtime} {self.precision}"

    def _load(self) -> None:
        started = time.perf_counter()
        torch.set_num_threads(self._settings.torch_threads or os.cpu_count() or 1)
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        # Fails within seconds, rather than minutes, where the Hub hangs.
        cached = hub.cache_only(self.model_id)
        processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
            self.model_id, local_files_only=cached
        )
        model = AutoModelForImageClassification.from_pretrained(
            self.model_id, local_files_only=cached
        )
        labels = {int(k): str(v) for k, v in (model.config.id2label or {}).items()}
        if not labels:
            raise ValueError("the model has no class labels (config.id2label)")
        self._fit = _input_side(processor)
        threads = self._settings.torch_threads or os.cpu_count() or 1
        if self.runtime == "onnxruntime":
            onnx = OnnxClassifier(
                model.eval(),
                cache=self._settings.resolved_model_cache_dir,
                precision=self.precision,
                threads=threads,
            )
            self._logits = onnx.logits
        else:
            model, self._dtype = _with_precision(model.eval(), self.precision)
            self._logits = lambda pixels: model(pixel_values=pixels).logits
        self._processor, self._labels, self._model = processor, labels, model
        log.info(
            "loaded %s (%s) in %.1f s", self.model_id, self.engine, time.perf_counter() - started
        )

    def _unavailable_message(self) -> str:
        return (
            f"The recognition model '{self.model_id}' could not be loaded ({self._failure}). "
            "To fix it, either set HF_MODEL to a local folder holding the model (config.json, "
            "weights, preprocessor_config.json), or set RECOGNIZER=huggingface with HF_API_TOKEN "
            "(and HF_ENDPOINT_URL for a dedicated Inference Endpoint)."
        )


def _input_side(processor: Any) -> int:
    """The side the processor resizes to (224 for ViT-B/16): images are decoded
    just large enough to cover it."""
    size = getattr(processor, "size", None)
    sides = []
    for key in ("height", "width", "shortest_edge"):
        value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        if isinstance(value, int):
            sides.append(value)
    return max(sides, default=224)


def resolve_engine(runtime: str, precision: str) -> tuple[str, str]:
    """The runtime and precision that `auto` stands for, from measurements on
    ViT-B/16 (scripts/bench recognition; figures in docs/performance.md): torch bf16 where
    the CPU computes bf16 natively (AVX-512 BF16 or AMX) is the fastest mode that
    stays close to fp32; elsewhere ONNX Runtime fp32 (exact, about 2.5x torch's
    fp32), or torch fp32 when ONNX Runtime is not installed."""
    bf16 = precision == "bf16" or (precision == "auto" and native_bf16())
    if runtime == "auto":
        has_onnx = importlib.util.find_spec("onnxruntime") is not None
        runtime = "onnxruntime" if has_onnx and not bf16 else "torch"
    if precision == "auto":
        precision = "bf16" if runtime == "torch" and native_bf16() else "fp32"
    return runtime, precision


def native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def _with_precision(model: Any, precision: str) -> tuple[Any, torch.dtype]:
    if precision == "bf16":
        return model.to(torch.bfloat16), torch.bfloat16
    if precision == "int8":
        # Dynamic quantization: Linear weights stored as int8, activations
        # quantized on the fly. torch.ao warns that it will move to torchao; it
        # is still the implementation that ships with torch, and works.
        # torch warns that eager quantization and quantized tensors will go in a
        # future release; torch is pinned, so silence that here, once, at load.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        return quantized, torch.float32
    return model, torch.float32
