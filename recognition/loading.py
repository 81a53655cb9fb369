"""Loading a model once, on first use, and retrying a failed load only after a
pause; preloading it at start, closing it, and saying how it stands: shared by
the classifier, the zero-shot model and the detector."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from errors import RecognizerUnavailable
from recognition.base import RecognizerStatus

if TYPE_CHECKING:
    from config import Settings
    from recognition.batcher import MicroBatcher
    from storage.decode_pool import DecodePool

log = logging.getLogger("cars.recognizer")

# After a failed load, wait this long before trying again: fixing a model's
# folder should not need a restart, but every request must not pay for a retry.
RETRY_LOAD_AFTER_S = 30.0


class LazyModel:
    """Holds `_model` (None until loaded). A subclass sets `model_id`, the
    thread that loads and runs the model (`_model_thread`), its settings, micro-
    batcher and decode pool (its own one when `_own_decoder`), says what it is
    in `kind` (for the log) and `log_name`, and gives `_load` and
    `_unavailable_message` (and `_loaded_status`, to say more than "loaded")."""

    kind = "model"
    log_name = "cars.recognizer"
    model_id: str
    _model: Any = None
    _model_thread: ThreadPoolExecutor
    _failure: str | None = None
    _failed_at = 0.0
    _settings: Settings
    _batcher: MicroBatcher[Any, Any]
    _decoder: DecodePool
    _own_decoder: bool

    def __init__(self) -> None:
        self._load_lock = asyncio.Lock()

    def _loaded(self) -> bool:
        return self._model is not None

    async def _ensure_loaded(self) -> None:
        if self._loaded():
            return
        async with self._load_lock:
            if self._loaded():  # another request loaded it while we waited
                return
            if (
                self._failure is not None
                and time.monotonic() - self._failed_at < RETRY_LOAD_AFTER_S
            ):
                raise RecognizerUnavailable(self._unavailable_message())
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._model_thread, self._load)
            except Exception as exc:
                self._failure = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                self._failed_at = time.monotonic()
                log.error("could not load %s %s: %s", self.kind, self.model_id, self._failure)
                raise RecognizerUnavailable(self._unavailable_message()) from exc
            self._failure = None

    async def start(self) -> None:
        """With PRELOAD_MODEL, load now rather than on the first request."""
        if self._settings.preload_model:
            try:
                await self._ensure_loaded()
            except RecognizerUnavailable as exc:
                # the server still serves everything else
                logging.getLogger(self.log_name).error("%s", exc.message)

    async def close(self) -> None:
        await self._batcher.close()
        self._model_thread.shutdown(wait=False, cancel_futures=True)
        if self._own_decoder:
            self._decoder.close()

    def status(self) -> RecognizerStatus:
        if self._model is not None:
            return RecognizerStatus(True, True, self._loaded_status())
        if self._failure is not None:
            return RecognizerStatus(False, False, self._unavailable_message())
        return RecognizerStatus(False, True, f"{self._named()} loads on first use")

    def _named(self) -> str:
        return self.model_id

    def _loaded_status(self) -> str:
        return f"{self._named()} loaded"

    def _load(self) -> None:
        raise NotImplementedError

    def _unavailable_message(self) -> str:
        raise NotImplementedError
