"""The `vehicles` a detector found in each file, and each one's own ranked
predictions (`vehicle_predictions`). The file's `predictions` stay those of its
main vehicle (rank 1), or of the whole photo."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import VehiclePredictionRow, VehicleRow


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
