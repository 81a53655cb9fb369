"""Every file with its predictions, a slice at a time, as plain tuples: the REST
listing of the whole collection builds no ORM object per row."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from db.files import FileRow
from db.predictions import PredictionRow

_FILES = FileRow.__table__  # type: ignore[attr-defined]
_PREDICTIONS = PredictionRow.__table__  # type: ignore[attr-defined]
# Read as the driver returns them: the column types' converters (the enum, the
# UTC datetimes) cost more than the rest of the listing; `_utc` does their work.
_RAW = {"status", "uploaded_at", "processed_at"}

FILE_FIELDS = (
    "id", "filename", "mime_type", "size", "status", "error", "width", "height", "sha256",
    "uploaded_at", "processed_at", "model_id", "backend", "inference_ms",
)  # fmt: skip
PREDICTION_FIELDS = ("label", "confidence", "make", "model", "body_type", "year")


def _column(name: str) -> sa.ColumnElement[Any]:
    column: sa.ColumnElement[Any] = _FILES.c[name]
    return sa.type_coerce(column, sa.String) if name in _RAW else column


_FILE_COLUMNS = [_column(name) for name in FILE_FIELDS]
_PREDICTION_COLUMNS = [_PREDICTIONS.c.file_id, *(_PREDICTIONS.c[n] for n in PREDICTION_FIELDS)]


def _utc(value: str | datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime: SQLite returns naive UTC text,
    PostgreSQL an aware datetime (as db/types.UTCDateTime does)."""
    if value is None:
        return None
    stored = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


async def file_slice(
    session: AsyncSession, *, after_id: int, limit: int
) -> tuple[list[tuple[Any, ...]], dict[int, list[tuple[Any, ...]]]]:
    """Up to `limit` files with ids above `after_id`, oldest first, as tuples in
    FILE_FIELDS order (status as its text, times as aware datetimes), and their
    predictions by file id, best first, as tuples in PREDICTION_FIELDS order."""
    connection = await session.connection()
    query = sa.select(*_FILE_COLUMNS).where(_FILES.c.id > after_id).order_by(_FILES.c.id)
    raw = (await connection.execute(query.limit(limit))).all()
    files = [(*row[:9], _utc(row[9]), _utc(row[10]), *row[11:]) for row in raw]
    grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    if files:
        # A range of ids, not a list: one index range scan however big the slice.
        ranked = (
            sa.select(*_PREDICTION_COLUMNS)
            .where(_PREDICTIONS.c.file_id.between(files[0][0], files[-1][0]))
            .order_by(_PREDICTIONS.c.file_id, _PREDICTIONS.c.rank)
        )
        for file_id, *fields in (await connection.execute(ranked)).all():
            grouped[file_id].append(tuple(fields))
    return files, grouped
