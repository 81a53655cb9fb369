"""The zero-shot backend: an image-text model (CLIP, SigLIP, ...) names the car
from the catalog's prompts, with no training.

The text side is computed once per prompt and kept: in memory, and on disk
under MODEL_CACHE_DIR (see `TextEmbeddings`), so a recognition costs one image
forward and one matrix product whatever the catalog's size. Before each batch
the catalog's version is read (one integer); when another replica or a worker
changed the catalog, the entries are reloaded and only new prompts embedded.

Scores follow the model's own training: softmax over the catalog for CLIP,
a sigmoid per entry for SigLIP (as transformers' pipeline does). The verdict
compares the best catalog entry with the best negative prompt ("a photo of a
cat", ...), and the colour comes from the colour prompts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModel, AutoProcessor
from transformers.utils import logging as hf_logging

from config import Settings
from errors import AppError, InvalidImage, RecognizerUnavailable
from recognition.base import ColorGuess, Guess, ImageRef, Recognition, Verdict
from recognition.batcher import MicroBatcher
from recognition.crops import decode_cost, open_ref
from recognition.embeddings import TextEmbeddings
from recognition.loading import LazyModel
from recognition.local import _input_side, _with_precision, resolve_engine
from recognition.prompts import (
    COLOR_PROMPT,
    COLORS,
    CatalogSource,
    entry_label,
    entry_prompt,
    entry_year,
)
from storage.decode import without_paths
from storage.decode_pool import MB, DecodePool

log = logging.getLogger("cars.recognizer")


@dataclass(frozen=True)
class _Catalog:
    version: int
    guesses: list[Guess]  # one per enabled entry, score 0, in matrix order
    matrix: torch.Tensor  # (entries, dim), unit rows


@dataclass(frozen=True)
class _Outcome:
    guesses: list[Guess]
    verdict: Verdict
    color: ColorGuess | None
    model_ms: float
    catalog_version: int


class ZeroShotRecognizer(LazyModel):
    backend = "zero-shot"

    def __init__(
        self, settings: Settings, catalog: CatalogSource, *, decoder: DecodePool | None = None
    ) -> None:
        """`decoder`: the server's decode pool; without one (the recognizer used
        on its own, as the benchmarks do) it makes its own."""
        self.model_id = settings.zero_shot_model
        self._own_decoder = decoder is None
        self._decoder = decoder or DecodePool(memory_bytes=settings.decode_memory_mb * MB)
        self._settings = settings
        self._source = catalog
        # torch only: the text and image towers are separate graphs, and the
        # image tower is the whole cost; ONNX export is left to the classifier.
        self.runtime, self.precision = resolve_engine("torch", settings.precision)
        self._tokenizer: Any = None
        self._image_processor: Any = None
        self._sigmoid = False
        self._scale = 1.0
        self._bias = 0.0
        self._dtype = torch.float32
        self._fit = 224
        self._texts: TextEmbeddings | None = None
        self._catalog: _Catalog | None = None
        self._negatives = torch.empty(0)
        self._colors = torch.empty(0)
        super().__init__()
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zero-shot")
        self._batcher: MicroBatcher[torch.Tensor, _Outcome] = MicroBatcher(
            self._run_batch,
            max_size=settings.infer_batch_size,
            max_wait=settings.infer_batch_wait_ms / 1000,
        )

    @property
    def engine(self) -> str:
        return f"{self.runtime} {self.precision}"

    def _loaded_status(self) -> str:
        size = len(self._catalog.guesses) if self._catalog else 0
        return f"{self.model_id} loaded ({self.engine}), {size} catalog names"

    async def recognize(self, images: Sequence[ImageRef]) -> list[Recognition | AppError]:
        await self._ensure_loaded()
        return list(await asyncio.gather(*(self._recognize_one(ref) for ref in images)))

    async def _recognize_one(self, ref: ImageRef) -> Recognition | AppError:
        started = time.perf_counter()
        cost = decode_cost(ref, fit=self._fit)
        try:
            with self._batcher.coming():  # a batch may wait for this one
                pixels = await self._decoder.run(lambda: self._preprocess(ref), cost=cost)
        except (OSError, ValueError) as exc:
            # OSError's message names the file: never show the server's paths
            return InvalidImage(f"The stored image could not be decoded: {without_paths(str(exc))}")
        decode_ms = (time.perf_counter() - started) * 1000
        outcome = await self._batcher.submit(pixels)
        return Recognition(
            guesses=outcome.guesses,
            model_id=self.model_id,
            backend=self.backend,
            elapsed_ms=decode_ms + outcome.model_ms,
            verdict=outcome.verdict,
            color=outcome.color,
            catalog_version=outcome.catalog_version,
        )

    def _preprocess(self, ref: ImageRef) -> torch.Tensor:
        # The whole photo, or the box's region, within MAX_ASPECT_RATIO: CLIP's
        # processor resizes the short side to 224, whatever the long one.
        image = open_ref(ref, fit=self._fit, max_ratio=self._settings.max_aspect_ratio)
        pixels: torch.Tensor = self._image_processor(images=[image], return_tensors="pt")[
            "pixel_values"
        ]
        return pixels

    async def _run_batch(self, batch: list[torch.Tensor]) -> list[_Outcome]:
        await self._refresh_catalog()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._model_thread, self._forward, batch)

    # --- the catalog's text side ---

    async def _refresh_catalog(self) -> None:
        """Reload the entries when the catalog changed (on any replica)."""
        try:
            version = await self._source.version()
            if self._catalog is not None and self._catalog.version == version:
                return
            entries = await self._source.entries()
        except Exception as exc:  # the database is down: the catalog we have will do
            if self._catalog is None:
                raise RecognizerUnavailable(
                    f"The catalog could not be read ({type(exc).__name__}); try again shortly."
                ) from exc
            log.warning("catalog not refreshed: %s", exc)
            return
        template = self._settings.zero_shot_prompt
        guesses = [
            Guess(
                label=entry_label(e),
                score=0.0,
                make=e.make,
                model=e.model,
                body_type=e.body_type,
                year=entry_year(e),
                catalog_entry_id=e.id,
            )
            for e in entries
        ]
        prompts = [entry_prompt(template, e) for e in entries]
        loop = asyncio.get_running_loop()
        matrix = await loop.run_in_executor(self._model_thread, self._embed, prompts)
        self._catalog = _Catalog(version=version, guesses=guesses, matrix=matrix)
        log.info("zero-shot catalog version %d: %d names", version, len(guesses))

    def _embed(self, prompts: list[str]) -> torch.Tensor:
        assert self._texts is not None
        matrix = self._texts.matrix(prompts)
        self._texts.save()
        return matrix

    def _encode_texts(self, prompts: list[str]) -> torch.Tensor:
        """Unit text embeddings, fp32, for prompts not embedded before."""
        padding: dict[str, Any] = {"padding": True}
        if self._sigmoid:  # SigLIP was trained on text padded to 64 tokens
            padding = {"padding": "max_length", "max_length": 64, "truncation": True}
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(prompts), 256):
                tokens = self._tokenizer(
                    prompts[start : start + 256], return_tensors="pt", **padding
                )
                features = self._model.get_text_features(**tokens).pooler_output.float()
                chunks.append(features / features.norm(dim=-1, keepdim=True))
        return torch.cat(chunks)

    # --- one batch of images ---

    def _forward(self, batch: list[torch.Tensor]) -> list[_Outcome]:
        started = time.perf_counter()
        # Read once: the next batch may load a newer catalog meanwhile.
        catalog = self._catalog
        assert catalog is not None
        with torch.inference_mode():
            pixels = torch.cat(batch).to(self._dtype)
            image = self._model.get_image_features(pixel_values=pixels).pooler_output.float()
            image = image / image.norm(dim=-1, keepdim=True)
            with one_thread():
                car = self._logits(image, catalog.matrix)
            negative = self._logits(image, self._negatives)
            color = self._scores(self._logits(image, self._colors))
        share_ms = (time.perf_counter() - started) * 1000 / len(batch)
        return [
            self._outcome(catalog, car[i], negative[i], color[i], share_ms)
            for i in range(len(batch))
        ]

    def _logits(self, image: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        if not texts.numel():  # an empty catalog
            return image.new_zeros(image.shape[0], 0)
        return image @ texts.T * self._scale + self._bias

    def _scores(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid() if self._sigmoid else logits.softmax(dim=-1)

    def _outcome(
        self,
        catalog: _Catalog,
        car: torch.Tensor,
        negative: torch.Tensor,
        color: torch.Tensor,
        model_ms: float,
    ) -> _Outcome:
        guesses: list[Guess] = []
        verdict: Verdict = "unsure"  # an empty catalog names nothing
        if car.numel():
            top = self._scores(car).topk(min(self._settings.top_k, car.numel()))
            for score, index in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                entry = catalog.guesses[index]
                guesses.append(
                    Guess(
                        label=entry.label,
                        score=score,
                        make=entry.make,
                        model=entry.model,
                        body_type=entry.body_type,
                        year=entry.year,
                        catalog_entry_id=entry.catalog_entry_id,
                    )
                )
            verdict = vehicle_verdict(
                car.max(), negative.max() if negative.numel() else None, self._settings
            )
        best = int(color.argmax())
        return _Outcome(
            guesses,
            verdict,
            ColorGuess(COLORS[best], float(color[best])),
            model_ms,
            catalog.version,
        )

    # --- loading ---

    def _load(self) -> None:
        started = time.perf_counter()
        torch.set_num_threads(self._settings.torch_threads or os.cpu_count() or 1)
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        processor = AutoProcessor.from_pretrained(self.model_id)  # type: ignore[no-untyped-call]
        model = AutoModel.from_pretrained(self.model_id).eval()
        if not hasattr(model, "get_text_features") or not hasattr(model, "logit_scale"):
            raise ValueError("the model is not an image-text model (no text features)")
        self._tokenizer = processor.tokenizer
        self._image_processor = processor.image_processor
        self._fit = _input_side(self._image_processor)
        self._sigmoid = "siglip" in model.config.model_type
        self._scale = float(model.logit_scale.detach().exp())
        bias = getattr(model, "logit_bias", None)
        self._bias = float(bias.detach()) if bias is not None else 0.0
        self._model, self._dtype = _with_precision(model, self.precision)
        self._texts = TextEmbeddings(
            self._settings.resolved_model_cache_dir,
            model_id=self.model_id,
            precision=self.precision,
            encode=self._encode_texts,
        )
        self._negatives = self._texts.matrix(list(self._settings.zero_shot_negatives))
        self._colors = self._texts.matrix([COLOR_PROMPT.format(color=c) for c in COLORS])
        log.info(
            "loaded %s (%s) in %.1f s", self.model_id, self.engine, time.perf_counter() - started
        )

    def _unavailable_message(self) -> str:
        return (
            f"The zero-shot model '{self.model_id}' could not be loaded ({self._failure}). "
            "Set ZERO_SHOT_MODEL to a local folder holding a CLIP or SigLIP model "
            "(config.json, weights, the tokenizer and preprocessor files), or to a Hub id "
            "where the Hub is reachable."
        )


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread for the catalog's product. From some thousands of
    names MKL spreads it over every core, and a parallel region waits for its
    slowest thread: on a busy 2-core machine, 10,000 names took 1.4 ms (median)
    and 11 to 12 ms (90th percentile) on two threads, against 0.75 and 2.5 ms on
    one (width 512; 0.04 ms at width 16). 196 names are never spread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def vehicle_verdict(
    best_car: torch.Tensor, best_negative: torch.Tensor | None, settings: Settings
) -> Verdict:
    """How much more the best catalog name fits than the best negative prompt,
    as the probability of the two (any logit bias cancels out)."""
    if best_negative is None:
        return "car"
    car = float(torch.stack([best_car, best_negative]).softmax(dim=0)[0])
    if car < 0.5:
        return "not_car"
    return "unsure" if car < settings.zero_shot_unsure_below else "car"
