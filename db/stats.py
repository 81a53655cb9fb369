"""Aggregates over the collection, each one SQL query, whatever its size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import LONG_FAILURE, SHORT_FAILURE, FileRow, FileStatus

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


@dataclass(frozen=True)
class Summary:
    by_status: dict[FileStatus, int]
    histogram: list[int]  # top-1 confidence of the files that are done, in BUCKETS buckets
    low_confidence: int  # files done with a top-1 confidence below the threshold
    mean_inference_ms: float | None  # over the files that are done


def _count(*conditions: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(func.count()).select_from(FileRow).where(*conditions).scalar_subquery()


async def summary(session: AsyncSession, *, threshold: float) -> Summary:
    """The counts of the collection in one statement, each of them a count of
    one range of an index (ix_files_status, ix_files_status_top_confidence),
    none of them a pass over the files with a CASE for every row."""
    confidence = col(FileRow.top_confidence)
    buckets = []
    for i in range(BUCKETS):
        low, high = i / BUCKETS, (i + 1) / BUCKETS
        upper = confidence <= high if i == BUCKETS - 1 else confidence < high
        buckets.append(_count(_done(), confidence >= low, upper))
    mean = sa.select(func.avg(col(FileRow.inference_ms))).where(_done()).scalar_subquery()
    statuses = list(FileStatus)
    query = sa.select(
        *(_count(col(FileRow.status) == status) for status in statuses),
        *buckets,
        _count(_done(), confidence < threshold),
        mean,
    )
    row = (await _run(session, query)).one()
    counts = [int(n) for n in row[: len(statuses) + BUCKETS + 1]]
    return Summary(
        by_status=dict(zip(statuses, counts, strict=False)),
        histogram=counts[len(statuses) : len(statuses) + BUCKETS],
        low_confidence=counts[-1],
        mean_inference_ms=None if row[-1] is None else float(row[-1]),
    )


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


async def failure_reasons(session: AsyncSession, *, limit: int = 10) -> list[Counted]:
    """The most frequent reasons of the failed files, most frequent first, ties
    in alphabetical order (no reason first). The failed files are read from
    two partial indexes (db/files.py): the conditions are written out as the
    indexes have them, so that the planners match them."""
    found: list[Counted] = []
    for only in (SHORT_FAILURE, LONG_FAILURE):
        count = func.count().label("n")
        query = (
            sa.select(col(FileRow.error), count)
            .where(sa.text(only))
            .group_by(col(FileRow.error))
            .order_by(count.desc(), col(FileRow.error).asc().nulls_first())
            .limit(limit)
        )
        found += [Counted((row[0],), int(row[1])) for row in (await _run(session, query)).all()]
    found.sort(key=lambda c: (-c.count, c.key[0] is not None, c.key[0] or ""))
    return found[:limit]
