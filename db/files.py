"""The `files` table and the queries on it."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from db.predictions import PredictionRow, delete_predictions, replace_predictions
from db.types import UTCDateTime, utcnow
from db.vehicles import delete_vehicles


class FileStatus(enum.StrEnum):
    PENDING = "pending"
    QUEUED = "queued"  # a recognition job waits for it (migration 0004)
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


# Statistics group the reasons of failed files from an index of those files
# alone (ix_files_failure_reasons). A reason longer than this many characters
# could outgrow a PostgreSQL index entry (about 2.7 KB): such files are left out
# of it and counted through a small index of their own.
REASON_INDEXED_UP_TO = 500
SHORT_FAILURE = f"status = 'failed' AND coalesce(length(error), 0) <= {REASON_INDEXED_UP_TO}"
LONG_FAILURE = f"status = 'failed' AND length(error) > {REASON_INDEXED_UP_TO}"


class FileRow(SQLModel, table=True):
    __tablename__ = "files"
    # Never reuse the id of a deleted file: ids appear in image URLs, cursors and
    # client caches. PostgreSQL sequences never do; SQLite needs AUTOINCREMENT.
    __table_args__ = (
        # Statistics group and count the best guesses of the files that are done;
        # these indexes cover those queries, so they read no table rows.
        sa.Index("ix_files_status_top_label", "status", "top_label"),
        sa.Index("ix_files_status_top_make_model", "status", "top_make", "top_model"),
        sa.Index("ix_files_status_top_confidence", "status", "top_confidence", "inference_ms"),
        sa.Index(
            "ix_files_failure_reasons",
            "status",  # first, as in the other indexes, so that SQLite's planner takes it
            "error",
            sqlite_where=sa.text(SHORT_FAILURE),
            postgresql_where=sa.text(SHORT_FAILURE),
        ),
        sa.Index(
            "ix_files_long_failures",
            "status",
            "id",
            sqlite_where=sa.text(LONG_FAILURE),
            postgresql_where=sa.text(LONG_FAILURE),
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=255)  # for display, already cleaned
    stored_key: str = Field(max_length=128, index=True)  # where the bytes are
    sha256: str = Field(max_length=64, index=True)
    mime_type: str = Field(max_length=64)  # detected from the content
    size: int = Field(sa_type=sa.BigInteger)
    width: int
    height: int
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: FileStatus = Field(
        default=FileStatus.PENDING,
        index=True,
        sa_type=sa.Enum(
            FileStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
    )
    error: str | None = Field(default=None, sa_type=sa.Text)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who produced the current predictions, and how long it took them.
    model_id: str | None = Field(default=None, max_length=255)
    backend: str | None = Field(default=None, max_length=32)
    inference_ms: float | None = None
    # The best guess (the rank 1 prediction), copied onto the file so that
    # statistics and the make filter read indexed columns instead of joining the
    # predictions. store_predictions and reset_to_pending keep them in step.
    top_label: str | None = Field(default=None, max_length=255)
    top_make: str | None = Field(default=None, max_length=64)
    top_model: str | None = Field(default=None, max_length=128)
    top_confidence: float | None = None
    # Raised by the database itself (triggers, migration 0009) on every change
    # to the row or to its predictions, whoever writes them: what a cache of
    # the file's rendering is keyed by (db/listing.py). Read it from the
    # database; a loaded row does not follow the triggers.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # The colour of what the predictions describe (the main vehicle, or the
    # whole photo), and the detector that looked for vehicles, if one did.
    color: str | None = Field(default=None, max_length=16)
    color_confidence: float | None = None
    detector: str | None = Field(default=None, max_length=255)
    # What the photo shows ("car", "not_car", "unsure"); null until done.
    verdict: str | None = Field(default=None, max_length=16)
    # The catalog version the results were named from (zero-shot backend; null
    # for classifiers): results of an older catalog are not this model's results.
    catalog_version: int | None = None


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
