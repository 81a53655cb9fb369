"""The recognizer interface, shared by the local and the remote backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from errors import AppError


@dataclass(frozen=True)
class ImageRef:
    """A stored image to recognize."""

    path: Path
    mime_type: str
    # As stored; 0 when unknown. What decoding it will cost is judged from them.
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Guess:
    label: str
    score: float


@dataclass(frozen=True)
class Recognition:
    guesses: list[Guess]  # most confident first, at most TOP_K
    model_id: str
    backend: str
    elapsed_ms: float  # this image's share of the work, decoding included


@dataclass(frozen=True)
class RecognizerStatus:
    ready: bool  # False: not loaded yet, or cannot be used (see detail)
    available: bool  # False: requests will fail until the configuration is fixed
    detail: str


class Recognizer(Protocol):
    backend: str
    model_id: str

    async def start(self) -> None:
        """Open what the backend holds for its lifetime (sessions, a preloaded model)."""

    async def close(self) -> None: ...

    def status(self) -> RecognizerStatus: ...

    async def recognize(self, images: Sequence[ImageRef]) -> list[Recognition | AppError]:
        """One outcome per image, in order. Raises RecognizerUnavailable when no
        image can be recognized at all (the model cannot be loaded)."""
        ...
