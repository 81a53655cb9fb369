"""The remote backend: the Hugging Face Inference API, or a dedicated Inference
Endpoint (HF_ENDPOINT_URL), over one aiohttp session held for the app's lifetime.

Transient failures (503 while the model loads, 429, other 5xx, timeouts, dropped
connections, garbled answers) are retried with exponential backoff and full
jitter, honouring `estimated_time` and `Retry-After`, within both an attempt
count and a time budget. Answers that retrying cannot change (400, 401, 403,
404, 410, 422) fail at once, with what to do about them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import anyio

from config import Settings
from errors import AppError, InvalidImage, UpstreamError
from recognition.base import Guess, ImageRef, Recognition, RecognizerStatus
from recognition.crops import image_bytes
from storage.decode import without_paths

log = logging.getLogger("cars.recognizer")

_MAX_BACKOFF_S = 30.0
# A region is sent at least this large (its short side): enough for the
# classifiers people deploy (224 to 384 px inputs).
_FIT = 384


class _Retry(Exception):
    """A transient failure: worth another attempt after `wait` seconds (None: backoff)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class HuggingFaceRecognizer:
    backend = "huggingface"
    input_side = _FIT  # what the preview must cover to be sent instead of the original

    def __init__(self, settings: Settings) -> None:
        self.model_id = settings.hf_model
        self._settings = settings
        self.url = settings.hf_endpoint_url or (
            f"{settings.hf_api_base.rstrip('/')}/hf-inference/models/{settings.hf_model}"
        )
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(settings.hf_max_concurrency)

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=self._settings.hf_timeout_seconds,
            connect=min(10.0, self._settings.hf_timeout_seconds),
        )
        headers = {"User-Agent": "cars-recognizer"}
        if self._settings.hf_api_token:
            headers["Authorization"] = f"Bearer {self._settings.hf_api_token}"
        self._session = aiohttp.ClientSession(timeout=timeout, headers=headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def status(self) -> RecognizerStatus:
        if not self._settings.hf_api_token and not self._settings.hf_endpoint_url:
            return RecognizerStatus(False, False, "RECOGNIZER=huggingface needs HF_API_TOKEN")
        return RecognizerStatus(True, True, f"remote: {self.url}")

    async def recognize(self, images: Sequence[ImageRef]) -> list[Recognition | AppError]:
        # Each image's expected failures come back as outcomes; only bugs raise.
        return list(await asyncio.gather(*(self._recognize_one(ref) for ref in images)))

    async def _recognize_one(self, ref: ImageRef) -> Recognition | AppError:
        max_ratio = self._settings.max_aspect_ratio
        try:
            data = await anyio.to_thread.run_sync(
                lambda: image_bytes(ref, fit=_FIT, max_ratio=max_ratio)
            )
        except (OSError, ValueError) as exc:
            # OSError's message names the file: never show the server's paths
            return InvalidImage(f"The stored image could not be decoded: {without_paths(str(exc))}")
        payload = {
            "inputs": base64.b64encode(data).decode(),
            "parameters": {"top_k": self._settings.top_k},
        }
        started = time.perf_counter()
        try:
            async with self._slots:  # bounded concurrency towards the upstream
                guesses = await self._post_with_retries(payload)
        except UpstreamError as exc:
            return exc
        return Recognition(
            guesses=guesses[: self._settings.top_k],
            model_id=self.model_id,
            backend=self.backend,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    async def _post_with_retries(self, payload: dict[str, Any]) -> list[Guess]:
        settings = self._settings
        deadline = time.monotonic() + settings.hf_retry_budget_seconds
        for attempt in range(1, settings.hf_max_attempts + 1):
            try:
                return await self._post(payload)
            except _Retry as retry:
                backoff = random.uniform(
                    0, min(_MAX_BACKOFF_S, settings.hf_backoff_seconds * 2 ** (attempt - 1))
                )
                wait = backoff if retry.wait is None else retry.wait
                left = deadline - time.monotonic()
                if attempt == settings.hf_max_attempts or wait >= left:
                    spent = settings.hf_retry_budget_seconds - max(left, 0)
                    raise UpstreamError(
                        f"The Hugging Face API did not answer usefully after {attempt} "
                        f"attempt(s) in {spent:.0f} s: {retry.reason}. "
                        "Try again later, or use RECOGNIZER=local."
                    ) from None
                log.warning(
                    "recognizer attempt %d failed (%s); retrying in %.1f s",
                    attempt,
                    retry.reason,
                    wait,
                )
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, payload: dict[str, Any]) -> list[Guess]:
        assert self._session is not None, "start() was not called"
        try:
            async with self._session.post(self.url, json=payload) as response:
                body = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise _Retry(f"no answer within {self._settings.hf_timeout_seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise _Retry(f"connection failed ({type(exc).__name__})") from None
        if status == 200:
            return _parse_guesses(body)
        message = _error_text(body)
        if status == 503:
            estimated = _number(_json(body), "estimated_time")
            raise _Retry(f"503 {message}", wait=estimated)
        if status == 429:
            raise _Retry(f"429 rate limited: {message}", wait=_retry_after(retry_after))
        if status >= 500:
            raise _Retry(f"{status} {message}")
        raise UpstreamError(self._refusal(status, message))

    def _refusal(self, status: int, message: str) -> str:
        what = {
            401: "The Hugging Face API refused the token (401). "
            "Set HF_API_TOKEN to a valid access token.",
            403: "The token may not call the Inference API (403). Give it the "
            "'Make calls to Inference Providers' permission, or use RECOGNIZER=local.",
            404: f"The model '{self.model_id}' is not served at {self.url} (404). Deploy it on an "
            "Inference Endpoint and set HF_ENDPOINT_URL, or use RECOGNIZER=local.",
            410: f"{self.url} is retired (410). Leave HF_API_BASE at "
            "https://router.huggingface.co, or set HF_ENDPOINT_URL.",
        }.get(status)
        if what is None:
            what = f"The Hugging Face API refused the image ({status})."
        return f"{what} Upstream said: {message}" if message else what


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _error_text(body: bytes) -> str:
    data = _json(body)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])[:300]
    return body[:200].decode("utf-8", "replace").strip()


def _number(data: Any, key: str) -> float | None:
    value = data.get(key) if isinstance(data, dict) else None
    return float(value) if isinstance(value, int | float) and value >= 0 else None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _parse_guesses(body: bytes) -> list[Guess]:
    data = _json(body)
    # Some endpoints wrap the list once more: [[{...}, ...]]
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], list):
        data = data[0]
    if not isinstance(data, list) or not data:
        raise _Retry("the answer was not a list of labels")
    guesses = []
    for item in data:
        if not (isinstance(item, dict) and isinstance(item.get("label"), str)):
            raise _Retry("the answer was not a list of labels")
        score = item.get("score")
        if not isinstance(score, int | float) or not 0 <= score <= 1:
            raise _Retry("an answer had no valid score")
        guesses.append(Guess(item["label"], float(score)))
    return sorted(guesses, key=lambda g: g.score, reverse=True)
