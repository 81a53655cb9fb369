"""Loading a model once, on first use, and retrying a failed load only after a
pause: shared by the classifier, the zero-shot model and the detector."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from errors import RecognizerUnavailable

log = logging.getLogger("cars.recognizer")

# After a failed load, wait this long before trying again: fixing a model's
# folder should not need a restart, but every request must not pay for a retry.
RETRY_LOAD_AFTER_S = 30.0


class LazyModel:
    """Holds `_model` (None until loaded). A subclass sets `model_id`, the
    thread that loads and runs the model (`_model_thread`), says what it is in
    `kind` (for the log), and gives `_load` and `_unavailable_message`."""

    kind = "model"
    model_id: str
    _model: Any = None
    _model_thread: ThreadPoolExecutor
    _failure: str | None = None
    _failed_at = 0.0

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

    def _load(self) -> None:
        raise NotImplementedError

    def _unavailable_message(self) -> str:
        raise NotImplementedError
