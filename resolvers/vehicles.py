"""The vehicles of a file and its colour: what recognition stores of them, and
reading them back (for GraphQL, and to reuse a recognition of the same bytes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import cast

from db import files as db_files
from db.models import FileRow, VehiclePredictionRow, VehicleRow
from db.vehicles import StoredVehicle, vehicles_for_files
from recognition.base import (
    Box,
    ColorGuess,
    Guess,
    Recognition,
    Vehicle,
    VehicleKind,
    Verdict,
)
from recognition.labels import parse_label
from services import Services


def current_detector(svc: Services) -> str | None:
    return svc.settings.detector or None


def to_rows(recognition: Recognition) -> list[StoredVehicle]:
    """The vehicles of a recognition, main one first, as rows to store."""
    stored = []
    for vehicle in recognition.vehicles:
        row = VehicleRow(
            file_id=0,
            rank=0,
            x=vehicle.box.x,
            y=vehicle.box.y,
            width=vehicle.box.width,
            height=vehicle.box.height,
            score=vehicle.score,
            kind=vehicle.kind,
            color=vehicle.color.name if vehicle.color else None,
            color_confidence=vehicle.color.confidence if vehicle.color else None,
        )
        predictions = []
        for guess in vehicle.guesses:
            # A catalog backend knows the parts; a classifier's label is parsed.
            parts = guess if guess.make is not None else parse_label(guess.label)
            predictions.append(
                VehiclePredictionRow(
                    vehicle_id=0,
                    rank=0,
                    label=guess.label,
                    confidence=guess.score,
                    make=parts.make,
                    model=parts.model,
                    body_type=parts.body_type,
                    year=parts.year,
                )
            )
        stored.append(StoredVehicle(row, predictions))
    return stored


def mark_color(row: FileRow, recognition: Recognition) -> None:
    """The file's colour (its main vehicle's, or the whole photo's) and detector."""
    row.color = recognition.color.name if recognition.color else None
    row.color_confidence = recognition.color.confidence if recognition.color else None
    row.detector = recognition.detector


async def recall(svc: Services, recognition: Recognition, source_id: int) -> Recognition | None:
    """A recognition rebuilt from the predictions of an earlier file with the
    same bytes, completed with that file's colour and vehicles; None when that
    file was recognized with another detector (or none), so it must be redone."""
    async with svc.session() as session:
        source = await db_files.get_file(session, file_id=source_id)
        if source is None or source.detector != current_detector(svc):
            return None
        found = await vehicles_for_files(session, file_ids=[source_id])
    color = (
        ColorGuess(source.color, source.color_confidence or 0.0)
        if source.color is not None
        else None
    )
    return dataclasses.replace(
        recognition,
        verdict=_verdict(source.verdict),
        color=color,
        vehicles=[_vehicle(v) for v in found.get(source_id, [])],
        detector=source.detector,
    )


def _verdict(stored: str | None) -> Verdict:
    return "not_car" if stored == "not_car" else "unsure" if stored == "unsure" else "car"


def _vehicle(stored: StoredVehicle) -> Vehicle:
    row = stored.row
    return Vehicle(
        box=Box(row.x, row.y, row.width, row.height),
        score=row.score,
        kind=cast(VehicleKind, row.kind),
        guesses=[Guess(p.label, p.confidence) for p in stored.predictions],
        color=ColorGuess(row.color, row.color_confidence or 0.0) if row.color else None,
    )


async def vehicles(svc: Services, file_ids: Sequence[int]) -> dict[int, list[StoredVehicle]]:
    async with svc.session() as session:
        return await vehicles_for_files(session, file_ids=file_ids)
