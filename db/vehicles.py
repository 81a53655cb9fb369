"""The `vehicles` a detector found in each file, and each one's own ranked
predictions (`vehicle_predictions`). The file's `predictions` stay those of its
main vehicle (rank 1), or of the whole photo."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession


class VehicleRow(SQLModel, table=True):
    __tablename__ = "vehicles"
    __table_args__ = (sa.UniqueConstraint("file_id", "rank"),)

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    rank: int  # 1 is the main vehicle: the largest box
    # The box, in pixels of the photo as displayed.
    x: int
    y: int
    width: int
    height: int
    score: float  # the detector's confidence
    kind: str = Field(max_length=16)  # car, truck, bus or motorcycle
    color: str | None = Field(default=None, max_length=16)
    color_confidence: float | None = None


class VehiclePredictionRow(SQLModel, table=True):
    __tablename__ = "vehicle_predictions"
    __table_args__ = (sa.UniqueConstraint("vehicle_id", "rank"),)

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("vehicles.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    rank: int  # 1 is the most confident
    label: str = Field(max_length=255)
    confidence: float
    make: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    body_type: str | None = Field(default=None, max_length=64)
    year: int | None = None


@dataclass
class StoredVehicle:
    row: VehicleRow
    predictions: list[VehiclePredictionRow] = field(default_factory=list)


async def vehicles_for_files(
    session: AsyncSession, *, file_ids: Sequence[int]
) -> dict[int, list[StoredVehicle]]:
    """Every file's vehicles, main one first, with their predictions: two queries."""
    grouped: dict[int, list[StoredVehicle]] = defaultdict(list)
    if not file_ids:
        return grouped
    query = (
        select(VehicleRow)
        .where(col(VehicleRow.file_id).in_(file_ids))
        .order_by(col(VehicleRow.file_id), col(VehicleRow.rank))
    )
    by_id: dict[int, StoredVehicle] = {}
    for row in (await session.exec(query)).all():
        stored = StoredVehicle(row)
        grouped[row.file_id].append(stored)
        by_id[row.id or 0] = stored
    if by_id:
        predictions = (
            select(VehiclePredictionRow)
            .where(col(VehiclePredictionRow.vehicle_id).in_(list(by_id)))
            .order_by(col(VehiclePredictionRow.vehicle_id), col(VehiclePredictionRow.rank))
        )
        for prediction in (await session.exec(predictions)).all():
            by_id[prediction.vehicle_id].predictions.append(prediction)
    return grouped


async def delete_vehicles(session: AsyncSession, *, file_id: int) -> None:
    """A file's vehicles; their predictions go with them (ON DELETE CASCADE)."""
    await session.exec(delete(VehicleRow).where(col(VehicleRow.file_id) == file_id))


async def replace_vehicles(
    session: AsyncSession, *, file_id: int, vehicles: Sequence[StoredVehicle]
) -> None:
    await delete_vehicles(session, file_id=file_id)
    for rank, vehicle in enumerate(vehicles, start=1):
        vehicle.row.file_id = file_id
        vehicle.row.rank = rank
        session.add(vehicle.row)
    await session.flush()  # the vehicles' ids, for their predictions
    for vehicle in vehicles:
        for rank, prediction in enumerate(vehicle.predictions, start=1):
            prediction.vehicle_id = vehicle.row.id or 0
            prediction.rank = rank
            session.add(prediction)
    await session.flush()
