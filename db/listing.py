"""The whole collection for the REST listing, with each file's rendering, and
each page's, kept in the database.

A file's element of the listing is rendered once (by the REST layer) and kept
in `file_listings` under the file's `version`, which the database itself raises
on every change to the file row or to its predictions (migration 0009's
triggers): no writer has to remember the cache, not even one written later
without knowing about it. The listing goes through the ids in pages of PAGE
ids; a page's elements, joined, are kept in `listing_pages` under a key of its
files: their number, the sum of their ids and the sum of their versions. Ids
are never reused and only grow, and versions only grow, so any change to a
page changes its key for good: a page whose key is as kept was not changed
since it was kept (see `pages`). A page that changed is put together again from
the files' kept elements, and only the files that changed are rendered again.
Nothing here builds an ORM object per row."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import FileListingRow, FileRow, ListingPageRow, PredictionRow

# Ids per page. Pages are kept with their bounds, so a new size only means the
# pages are put together again.
PAGE = 2000

_FILES = FileRow.__table__  # type: ignore[attr-defined]
_PREDICTIONS = PredictionRow.__table__  # type: ignore[attr-defined]
_KEPT = FileListingRow.__table__  # type: ignore[attr-defined]
_PAGES = ListingPageRow.__table__  # type: ignore[attr-defined]
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


@dataclass(frozen=True)
class Page:
    first_id: int
    key: tuple[int, int, int]  # its files: how many, the sum of their ids, of their versions
    body: bytes | None  # the kept page, when it was kept by `shape` under this key

    @property
    def last_id(self) -> int:
        return self.first_id + PAGE - 1


def page_start(file_id: int) -> int:
    """The first id of the page that holds `file_id`."""
    return (file_id - 1) // PAGE * PAGE + 1


def _key(first_id: sa.ColumnElement[int], size: int) -> sa.Select[int, int, Any, Any]:
    in_page = sa.and_(_FILES.c.id >= first_id, _FILES.c.id <= first_id + (size - 1))
    return sa.select(
        first_id.label("first_id"),
        sa.func.count().label("files"),
        sa.func.coalesce(sa.func.sum(_FILES.c.id), 0).label("id_sum"),
        sa.func.coalesce(sa.func.sum(_FILES.c.version), 0).label("version_sum"),
    ).where(in_page)


@functools.cache
def _pages_query(count: int, size: int) -> sa.Select[Any]:
    """`count` pages of `size` ids from the one that starts at :first_id, with
    the kept bodies of those whose key matches, and the first id after them.
    Built once: the listing reads it for every few pages."""
    first_id = sa.bindparam("first_id", type_=sa.Integer)
    keys = sa.union_all(*(_key(first_id + n * size, size) for n in range(count))).subquery()
    kept = sa.and_(
        _PAGES.c.first_id == keys.c.first_id,
        _PAGES.c.last_id == keys.c.first_id + (size - 1),
        _PAGES.c.shape == sa.bindparam("shape", type_=sa.String),
        _PAGES.c.files == keys.c.files,
        _PAGES.c.id_sum == keys.c.id_sum,
        _PAGES.c.version_sum == keys.c.version_sum,
    )
    last_id = first_id + (count * size - 1)
    after = sa.select(sa.func.min(_FILES.c.id)).where(_FILES.c.id > last_id).scalar_subquery()
    # No ORDER BY: SQLite would sort the pages' bodies. The caller puts them in order.
    return sa.select(
        keys.c.first_id, keys.c.files, keys.c.id_sum, keys.c.version_sum, _PAGES.c.body, after
    ).select_from(keys.outerjoin(_PAGES, kept))


async def pages(
    session: AsyncSession, *, first_id: int, count: int, shape: str
) -> tuple[list[Page], int | None]:
    """The pages that hold files among `count` pages from the one starting at
    `first_id`, each with its kept body when its key is as kept, in one
    statement; and the first file after them, if any.

    Why a matching key is enough: between two reads with the same key no file
    of the page can have changed, been added or been deleted. A change raises
    a version (so the version sum) for good; a file is added only after every
    id so far, so with as many added as deleted the id sum grows; and with a
    different number the count differs."""
    connection = await session.connection()
    query = _pages_query(count, PAGE)
    found = await connection.execute(query, {"first_id": first_id, "shape": shape})
    rows = sorted(found.all(), key=lambda row: int(row[0]))
    kept = [
        Page(int(first), (int(files), int(id_sum), int(version_sum)), body)
        for first, files, id_sum, version_sum, body, _ in rows
        if files
    ]
    return kept, rows[0][-1]


async def kept_files(
    session: AsyncSession, *, first_id: int, last_id: int, shape: str
) -> list[tuple[int, bytes | None]]:
    """The files with ids first_id..last_id, oldest first, each with its kept
    body when that was rendered by `shape` for the row as it is now, else None."""
    kept = sa.and_(
        _KEPT.c.file_id == _FILES.c.id,
        _KEPT.c.version == _FILES.c.version,
        _KEPT.c.shape == shape,
    )
    query = (
        sa.select(_FILES.c.id, _KEPT.c.body)
        .select_from(_FILES.outerjoin(_KEPT, kept))
        .where(_FILES.c.id >= first_id, _FILES.c.id <= last_id)
        .order_by(_FILES.c.id)
    )
    connection = await session.connection()
    result = await connection.execute(query)
    # The driver's own rows: no Row object per file.
    found = list(result.cursor.fetchall()) if result.cursor else []
    result.close()
    return found


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


def _keep_page_statement(dialect: str) -> sa.Executable:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_PAGES)
    columns = ("last_id", "shape", "files", "id_sum", "version_sum", "body")
    return statement.on_conflict_do_update(
        index_elements=[_PAGES.c.first_id],
        set_={name: statement.excluded[name] for name in columns},
    )


# PostgreSQL errors that only mean "not now": a writer holds a file longer than
# lock_timeout (lock_not_available), or deleted one meanwhile (foreign_key_violation).
_NOT_NOW = {"55P03", "23503"}


async def keep(
    session: AsyncSession,
    *,
    rendered: Sequence[tuple[int, int, bytes]],
    page: Page | None,
    body: bytes,
    shape: str,
) -> bool:
    """Keep each (file id, version, element) rendered by `shape`, and the page
    put together as `body` when its key was read as `page.key` (None: leave the
    page). False when they could not be kept right now (they are only a cache:
    the caller goes on)."""
    connection = await session.connection()
    dialect = connection.dialect.name
    statements: list[tuple[sa.Executable, list[dict[str, Any]]]] = []
    if rendered:
        rows = [{"file_id": i, "version": v, "shape": shape, "body": b} for i, v, b in rendered]
        statements.append((_keep_statement(dialect), rows))
    if page is not None:
        files, id_sum, version_sum = page.key
        kept_page = {"first_id": page.first_id, "last_id": page.last_id, "shape": shape}
        kept_page |= {"files": files, "id_sum": id_sum, "version_sum": version_sum, "body": body}
        statements.append((_keep_page_statement(dialect), [kept_page]))
    if dialect != "postgresql":
        # SQLite: one writer at a time, and each statement checks and writes.
        for statement, rows in statements:
            await connection.execute(statement, rows)
        return True
    await connection.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
    try:
        async with connection.begin_nested():
            for statement, rows in statements:
                await connection.execute(statement, rows)
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _NOT_NOW:
            raise
        return False
    return True
