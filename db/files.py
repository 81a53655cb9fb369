"""The `files` table and the queries on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from db.models import FileRow, FileStatus, PredictionRow
from db.predictions import delete_predictions, replace_predictions
from db.types import utcnow
from db.vehicles import delete_vehicles


async def insert_file(
    session: AsyncSession,
    *,
    filename: str,
    stored_key: str,
    sha256: str,
    mime_type: str,
    size: int,
    width: int,
    height: int,
) -> FileRow:
    row = FileRow(
        filename=filename,
        stored_key=stored_key,
        sha256=sha256,
        mime_type=mime_type,
        size=size,
        width=width,
        height=height,
    )
    session.add(row)
    await session.flush()
    return row


async def get_file(session: AsyncSession, *, file_id: int) -> FileRow | None:
    return await session.get(FileRow, file_id)


_Query = TypeVar("_Query", SelectOfScalar[FileRow], SelectOfScalar[int])


def _filtered(
    query: _Query, status: FileStatus | None, search: str | None, make: str | None = None
) -> _Query:
    if status is not None:
        query = query.where(col(FileRow.status) == status)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(FileRow.filename).ilike(f"%{escaped}%", escape="\\"))
    if make:
        # The file's best guess is of this make (any case).
        query = query.where(func.lower(col(FileRow.top_make)) == make.lower())
    return query


async def list_files(
    session: AsyncSession,
    *,
    status: FileStatus | None = None,
    search: str | None = None,
    make: str | None = None,
    newest_first: bool = False,
    after_id: int | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> Sequence[FileRow]:
    """Files in upload order (ids grow with time), paged by keyset on the id
    (`after_id`) or, for numbered pages, by `offset`."""
    query = _filtered(select(FileRow), status, search, make)
    if after_id is not None:
        query = query.where(
            col(FileRow.id) < after_id if newest_first else col(FileRow.id) > after_id
        )
    query = query.order_by(col(FileRow.id).desc() if newest_first else col(FileRow.id))
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return (await session.exec(query)).all()


async def count_files(
    session: AsyncSession,
    *,
    status: FileStatus | None = None,
    search: str | None = None,
    make: str | None = None,
) -> int:
    query = _filtered(select(func.count()).select_from(FileRow), status, search, make)
    return (await session.exec(query)).one()


async def lock_files(session: AsyncSession, *, ids: Sequence[int]) -> Sequence[FileRow]:
    """The files, each locked until the transaction ends, so two writers (an API
    replica and a worker, two workers) decide about a file one after the other.
    In id order, so that two of them never wait for each other. SQLite ignores
    FOR UPDATE: a write transaction there locks the whole database anyway."""
    query = (
        select(FileRow)
        .where(col(FileRow.id).in_(ids))
        .order_by(col(FileRow.id))
        .with_for_update()
        # Read what the lock holder committed, not what this session cached.
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).all()


async def lock_file(session: AsyncSession, *, file_id: int) -> FileRow | None:
    found = await lock_files(session, ids=[file_id])
    return found[0] if found else None


async def queued_ids(session: AsyncSession) -> list[int]:
    """Files whose recognition job is still to run, oldest first."""
    query = (
        select(FileRow.id).where(col(FileRow.status) == FileStatus.QUEUED).order_by(col(FileRow.id))
    )
    return [i for i in (await session.exec(query)).all() if i is not None]


async def files_by_ids(session: AsyncSession, *, ids: Sequence[int]) -> Sequence[FileRow]:
    return (await session.exec(select(FileRow).where(col(FileRow.id).in_(ids)))).all()


async def delete_files(session: AsyncSession, *, ids: Sequence[int]) -> None:
    await session.exec(delete(FileRow).where(col(FileRow.id).in_(ids)))


async def store_predictions(
    session: AsyncSession,
    *,
    row: FileRow,
    predictions: Sequence[PredictionRow],
    verdict: str = "car",
    catalog_version: int | None = None,
) -> None:
    """Replace the file's predictions (best first), its copy of the best one,
    its verdict and the catalog version they came from."""
    assert row.id is not None
    await replace_predictions(session, file_id=row.id, predictions=predictions)
    _copy_best(row, predictions[0] if predictions else None)
    row.verdict = verdict
    row.catalog_version = catalog_version
    session.add(row)
    await session.flush()


def _copy_best(row: FileRow, best: PredictionRow | None) -> None:
    row.top_label = best.label if best else None
    row.top_make = best.make if best else None
    row.top_model = best.model if best else None
    row.top_confidence = best.confidence if best else None


async def reset_to_pending(session: AsyncSession, *, row: FileRow) -> FileRow:
    """Forget the file's results: its predictions go, and it waits to be recognized."""
    assert row.id is not None
    await delete_predictions(session, file_id=row.id)
    await delete_vehicles(session, file_id=row.id)
    _copy_best(row, None)
    row.status = FileStatus.PENDING
    row.error = None
    row.processed_at = None
    row.model_id = None
    row.backend = None
    row.inference_ms = None
    row.color = None
    row.color_confidence = None
    row.detector = None
    row.verdict = None
    row.catalog_version = None
    session.add(row)
    await session.flush()
    return row


async def set_status(
    session: AsyncSession, *, row: FileRow, status: FileStatus, error: str | None = None
) -> FileRow:
    row.status = status
    row.error = error
    if status is FileStatus.FAILED:
        row.processed_at = utcnow()
    session.add(row)
    await session.flush()
    return row


async def release_file(session: AsyncSession, *, file_id: int) -> None:
    """One file left `processing` goes back to `pending`."""
    query = (
        update(FileRow)
        .where(col(FileRow.id) == file_id, col(FileRow.status) == FileStatus.PROCESSING)
        .values(status=FileStatus.PENDING)
    )
    await session.exec(query)


async def release_interrupted(session: AsyncSession) -> int:
    """Files left `processing` by a crash go back to `pending`."""
    query = (
        update(FileRow)
        .where(col(FileRow.status) == FileStatus.PROCESSING)
        .values(status=FileStatus.PENDING)
    )
    result = await session.exec(query)
    return int(result.rowcount or 0)
