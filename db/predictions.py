"""The `predictions` table: the ranked recognition results of each file."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import FileRow, FileStatus, PredictionRow


async def predictions_for_files(
    session: AsyncSession, *, file_ids: Sequence[int]
) -> dict[int, list[PredictionRow]]:
    """Every file's predictions, best first, in one query."""
    grouped: dict[int, list[PredictionRow]] = defaultdict(list)
    if not file_ids:
        return grouped
    query = (
        select(PredictionRow)
        .where(col(PredictionRow.file_id).in_(file_ids))
        .order_by(col(PredictionRow.file_id), col(PredictionRow.rank))
    )
    for row in (await session.exec(query)).all():
        grouped[row.file_id].append(row)
    return grouped


async def delete_predictions(session: AsyncSession, *, file_id: int) -> None:
    await session.exec(delete(PredictionRow).where(col(PredictionRow.file_id) == file_id))


async def replace_predictions(
    session: AsyncSession, *, file_id: int, predictions: Sequence[PredictionRow]
) -> None:
    await delete_predictions(session, file_id=file_id)
    for rank, prediction in enumerate(predictions, start=1):
        prediction.file_id = file_id
        prediction.rank = rank
        session.add(prediction)
    await session.flush()


async def known_predictions(
    session: AsyncSession, *, sha256: str, model_id: str
) -> list[PredictionRow]:
    """What `model_id` already said about these bytes (any file holding them),
    best first; empty when it never saw them."""
    source = (
        select(func.min(FileRow.id))
        .where(col(FileRow.sha256) == sha256)
        .where(col(FileRow.model_id) == model_id)
        .where(col(FileRow.status) == FileStatus.DONE)
        .scalar_subquery()
    )
    query = (
        select(PredictionRow)
        .where(col(PredictionRow.file_id) == source)
        .order_by(col(PredictionRow.rank))
    )
    return list((await session.exec(query)).all())
