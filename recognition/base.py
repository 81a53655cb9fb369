"""The recognizer interface, shared by the local and the remote backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from PIL import Image

from errors import AppError

# What the photo shows: a vehicle, none ("not_car"), or the recognizer cannot tell.
Verdict = Literal["car", "not_car", "unsure"]
VehicleKind = Literal["car", "truck", "bus", "motorcycle"]


@dataclass(frozen=True)
class Box:
    """A region of an image, in pixels of the image as displayed (upright, full size)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class DecodedImage:
    """An image someone already decoded upright (possibly at reduced size, so
    `pixels` may be smaller than the full size), handed on so that it is not
    decoded again."""

    pixels: Image.Image
    full_width: int
    full_height: int


@dataclass(frozen=True)
class ImageRef:
    """A stored image to recognize: the whole of it, or the region `box`."""

    path: Path
    mime_type: str
    # As stored; 0 when unknown. What decoding it will cost is judged from them.
    width: int = 0
    height: int = 0
    box: Box | None = None
    decoded: DecodedImage | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Guess:
    label: str
    score: float
    # Set by backends that know them (zero-shot: the catalog entry's own
    # fields); None means "parse them from the label" (classifier backends).
    make: str | None = None
    model: str | None = None
    body_type: str | None = None
    year: int | None = None
    catalog_entry_id: int | None = None


@dataclass(frozen=True)
class ColorGuess:
    """A named colour (white, black, grey, silver, red, blue, green, yellow,
    orange, brown, beige) and how sure of it the recognizer is, 0 to 1."""

    name: str
    confidence: float


@dataclass(frozen=True)
class Vehicle:
    """One vehicle a detector found, classified on its own crop."""

    box: Box
    score: float  # the detector's confidence
    kind: VehicleKind
    guesses: list[Guess]
    color: ColorGuess | None = None


@dataclass(frozen=True)
class Recognition:
    guesses: list[Guess]  # most confident first, at most TOP_K
    model_id: str
    backend: str
    elapsed_ms: float  # this image's share of the work, decoding included
    # "car", "not_car" (no vehicle in the photo) or "unsure"; the guesses are
    # kept whatever the verdict.
    verdict: Verdict = "car"
    # The catalog version the guesses were named from (zero-shot); None for
    # classifiers, whose answers do not depend on the catalog.
    catalog_version: int | None = None
    color: ColorGuess | None = None
    # With a detector: every vehicle found, largest first; `guesses` and `color`
    # are then the first one's. Empty with no detector, or when none was found
    # (then `guesses` are for the whole photo).
    vehicles: list[Vehicle] = field(default_factory=list)
    detector: str | None = None  # the detector that looked for vehicles, if any


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
