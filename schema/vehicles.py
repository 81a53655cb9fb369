"""The vehicles found in a photo, their boxes, and colours."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated

import strawberry

if TYPE_CHECKING:
    from schema.files import Prediction


@strawberry.enum(description="What kind of vehicle the detector saw (COCO's vehicle classes).")
class VehicleKind(enum.Enum):
    CAR = "car"
    TRUCK = "truck"
    BUS = "bus"
    MOTORCYCLE = "motorcycle"


@strawberry.type(description="A rectangle of a photo, in pixels of the photo as displayed.")
class Box:
    x: int = strawberry.field(description="From the left edge.")
    y: int = strawberry.field(description="From the top edge.")
    width: int = strawberry.field(description="In pixels.")
    height: int = strawberry.field(description="In pixels.")


@strawberry.type(description="A named colour and how sure the server is of it.")
class Color:
    name: str = strawberry.field(
        description="One of white, black, grey, silver, red, blue, green, yellow, orange, "
        "brown, beige."
    )
    confidence: float = strawberry.field(description="From 0 to 1.")

    @classmethod
    def of(cls, name: str | None, confidence: float | None) -> Color | None:
        return None if name is None else cls(name=name, confidence=confidence or 0.0)


@strawberry.type(description="One vehicle a detector found in the photo, classified on its own.")
class Vehicle:
    box: Box = strawberry.field(description="Where it is in the photo.")
    score: float = strawberry.field(description="The detector's confidence, from 0 to 1.")
    kind: VehicleKind = strawberry.field(description="Car, truck, bus or motorcycle.")
    predictions: list[Annotated[Prediction, strawberry.lazy("schema.files")]] = strawberry.field(
        description="What the recognizer saw in its box, most confident first."
    )
    color: Color | None = strawberry.field(description="Its colour, if one was named.")
