"""Aggregates over the collection, each one SQL query, whatever its size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.files import FileRow, FileStatus

# Confidence buckets of the histogram: [0, 0.1), [0.1, 0.2), ... [0.9, 1.0].
BUCKETS = 10


@dataclass(frozen=True)
class Counted:
    key: tuple[str | None, ...]
    count: int


async def _run(session: AsyncSession, query: sa.Executable) -> sa.Result[*tuple[Any, ...]]:
    # Aggregates are plain SQLAlchemy selects; SQLModel's exec() types only its own.
    connection = await session.connection()
    result: sa.Result[*tuple[Any, ...]] = await connection.execute(query)
    return result


# The best guess of each file, as the file row keeps it (db/files.py).
_BEST = {"label": FileRow.top_label, "make": FileRow.top_make, "model": FileRow.top_model}


def _done() -> sa.ColumnElement[bool]:
    return col(FileRow.status) == FileStatus.DONE


async def count_by_status(session: AsyncSession) -> dict[FileStatus, int]:
    query = select(FileRow.status, func.count()).group_by(col(FileRow.status))
    counts = {status: 0 for status in FileStatus}
    for status, count in (await session.exec(query)).all():
        counts[FileStatus(status)] = count
    return counts


async def top_counts(
    session: AsyncSession, *, columns: Sequence[str], limit: int = 10
) -> list[Counted]:
    """The most frequent values of the best guesses of the files that are done
    (columns from "label", "make", "model"), most frequent first, ties in
    alphabetical order."""
    keys = [col(_BEST[name]) for name in columns]
    count = func.count().label("n")
    query = (
        sa.select(*keys, count)
        .where(_done(), *(key.is_not(None) for key in keys))
        .group_by(*keys)
        .order_by(count.desc(), *keys)
        .limit(limit)
    )
    rows = (await _run(session, query)).all()
    return [Counted(key=tuple(row[:-1]), count=int(row[-1])) for row in rows]


async def confidence_histogram(session: AsyncSession) -> list[int]:
    """Counts of top-1 confidence in BUCKETS equal buckets, all in one pass."""
    confidence = col(FileRow.top_confidence)
    buckets = []
    for i in range(BUCKETS):
        low, high = i / BUCKETS, (i + 1) / BUCKETS
        upper = confidence <= high if i == BUCKETS - 1 else confidence < high
        buckets.append(
            func.coalesce(func.sum(sa.case((sa.and_(confidence >= low, upper), 1), else_=0)), 0)
        )
    query = sa.select(*buckets).where(_done(), confidence.is_not(None))
    row = (await _run(session, query)).one()
    return [int(value) for value in row]


async def count_low_confidence(session: AsyncSession, *, threshold: float) -> int:
    query = (
        sa.select(func.count())
        .select_from(FileRow)
        .where(_done(), col(FileRow.top_confidence) < threshold)
    )
    return int((await _run(session, query)).scalar_one())


async def failure_reasons(session: AsyncSession, *, limit: int = 10) -> list[Counted]:
    count = func.count().label("n")
    query = (
        sa.select(col(FileRow.error), count)
        .where(col(FileRow.status) == FileStatus.FAILED)
        .group_by(col(FileRow.error))
        .order_by(count.desc(), col(FileRow.error))
        .limit(limit)
    )
    return [Counted(key=(row[0],), count=int(row[1])) for row in (await _run(session, query)).all()]


async def mean_inference_ms(session: AsyncSession) -> float | None:
    query = sa.select(func.avg(col(FileRow.inference_ms))).where(
        col(FileRow.status) == FileStatus.DONE
    )
    value = (await _run(session, query)).scalar_one()
    return None if value is None else float(value)
