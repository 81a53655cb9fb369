"""The whole collection for the REST listing, a slice at a time, with each
file's rendering kept in the database.

A file's element of the listing is rendered once (by the REST layer) and kept
in `file_listings` under the file's `version`, which the database itself raises
on every change to the file row or to its predictions (migration 0008's
triggers): no writer has to remember the cache, not even one written later
without knowing about it. A slice is one query for its ids and kept bodies;
only the files whose body is missing or older than the row are read in full
and rendered again. Nothing here builds an ORM object per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from db.files import FileRow
from db.predictions import PredictionRow


class FileListingRow(SQLModel, table=True):
    """A file's element of the listing as it was rendered for one version of
    its row, by the rendering that `shape` names."""

    __tablename__ = "file_listings"

    file_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        )
    )
    version: int
    # Which rendering wrote it (rest/shapes.LISTING_SHAPE): a release that
    # renders differently never serves what an older one kept.
    shape: str = Field(max_length=32)
    body: bytes = Field(sa_type=sa.LargeBinary)


_FILES = FileRow.__table__  # type: ignore[attr-defined]
_PREDICTIONS = PredictionRow.__table__  # type: ignore[attr-defined]
_KEPT = FileListingRow.__table__  # type: ignore[attr-defined]
# Read as the driver returns them: the column types' converters (the enum, the
# UTC datetimes) cost more than the rest of the rendering; `_utc` does their work.
_RAW = {"status", "uploaded_at", "processed_at"}

FILE_FIELDS = (
    "id", "filename", "mime_type", "size", "status", "error", "width", "height", "sha256",
    "uploaded_at", "processed_at", "model_id", "backend", "inference_ms",
)  # fmt: skip
PREDICTION_FIELDS = ("label", "confidence", "make", "model", "body_type", "year")


def _column(name: str) -> sa.ColumnElement[Any]:
    column: sa.ColumnElement[Any] = _FILES.c[name]
    return sa.type_coerce(column, sa.String) if name in _RAW else column


_FILE_COLUMNS = [_FILES.c.version, *(_column(name) for name in FILE_FIELDS)]
_PREDICTION_COLUMNS = [_PREDICTIONS.c.file_id, *(_PREDICTIONS.c[n] for n in PREDICTION_FIELDS)]


def _utc(value: str | datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime: SQLite returns naive UTC text,
    PostgreSQL an aware datetime (as db/types.UTCDateTime does)."""
    if value is None:
        return None
    stored = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


async def kept_slice(
    session: AsyncSession, *, after_id: int, limit: int, shape: str
) -> list[tuple[int, bytes | None]]:
    """Up to `limit` files with ids above `after_id`, oldest first, each with
    its kept body when that was rendered by `shape` for the row as it is now,
    else None."""
    kept = sa.and_(
        _KEPT.c.file_id == _FILES.c.id,
        _KEPT.c.version == _FILES.c.version,
        _KEPT.c.shape == shape,
    )
    query = (
        sa.select(_FILES.c.id, _KEPT.c.body)
        .select_from(_FILES.outerjoin(_KEPT, kept))
        .where(_FILES.c.id > after_id)
        .order_by(_FILES.c.id)
        .limit(limit)
    )
    connection = await session.connection()
    return [(row[0], row[1]) for row in await connection.execute(query)]


async def files_to_render(
    session: AsyncSession, *, ids: Sequence[int]
) -> tuple[list[tuple[int, tuple[Any, ...]]], dict[int, list[tuple[Any, ...]]]]:
    """The files of `ids` that still exist, oldest first, each as its version
    and a tuple in FILE_FIELDS order (status as its text, times as aware
    datetimes), and their predictions by file id, best first, as tuples in
    PREDICTION_FIELDS order.

    The rows are read before their predictions, and a change to predictions
    raises the row's version in the same transaction: so a rendering of these
    is never newer than the version it is kept under, at worst older, and then
    never served."""
    connection = await session.connection()
    query = sa.select(*_FILE_COLUMNS).where(_FILES.c.id.in_(ids)).order_by(_FILES.c.id)
    files = [
        (row[0], (*row[1:10], _utc(row[10]), _utc(row[11]), *row[12:]))
        for row in await connection.execute(query)
    ]
    grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    if files:
        ranked = (
            sa.select(*_PREDICTION_COLUMNS)
            .where(_PREDICTIONS.c.file_id.in_([fields[0] for _, fields in files]))
            .order_by(_PREDICTIONS.c.file_id, _PREDICTIONS.c.rank)
        )
        for file_id, *fields in await connection.execute(ranked):
            grouped[file_id].append(tuple(fields))
    return files, grouped


def _keep_statement(dialect: str) -> sa.Executable:
    """Keep one rendering, unless its file is gone or has changed since (then
    it would never be served) or a newer one is kept already."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    file_id = sa.bindparam("file_id", type_=sa.Integer)
    version = sa.bindparam("version", type_=sa.Integer)
    # Casts, so that PostgreSQL knows the parameters' types in a SELECT list.
    values = sa.select(
        sa.cast(file_id, sa.Integer),
        sa.cast(version, sa.Integer),
        sa.cast(sa.bindparam("shape", type_=sa.String), sa.String),
        sa.cast(sa.bindparam("body", type_=sa.LargeBinary), sa.LargeBinary),
    ).where(sa.exists().where(_FILES.c.id == file_id, _FILES.c.version == version))
    statement = insert(_KEPT).from_select(["file_id", "version", "shape", "body"], values)
    return statement.on_conflict_do_update(
        index_elements=[_KEPT.c.file_id],
        set_={name: statement.excluded[name] for name in ("version", "shape", "body")},
        where=statement.excluded.version >= _KEPT.c.version,
    )


# PostgreSQL errors that only mean "not now": a writer holds a file longer than
# lock_timeout (lock_not_available), or deleted one meanwhile (foreign_key_violation).
_NOT_NOW = {"55P03", "23503"}


async def keep(
    session: AsyncSession, *, rendered: Sequence[tuple[int, int, bytes]], shape: str
) -> bool:
    """Keep each (file id, version, body) rendered by `shape`; False when they
    could not be kept right now (they are only a cache: the caller goes on)."""
    if not rendered:
        return True
    connection = await session.connection()
    statement = _keep_statement(connection.dialect.name)
    rows = [{"file_id": i, "version": v, "shape": shape, "body": body} for i, v, body in rendered]
    if connection.dialect.name != "postgresql":
        # SQLite: one writer at a time, and this one statement checks and writes.
        await connection.execute(statement, rows)
        return True
    await connection.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
    try:
        async with connection.begin_nested():
            await connection.execute(statement, rows)
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _NOT_NOW:
            raise
        return False
    return True
