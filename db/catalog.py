"""The catalog of car models the zero-shot backend names, and its version.

Every change bumps one counter row (`catalog_state.version`) in the same
transaction, so each replica and worker sees a change by reading one integer
before a batch, and reloads the entries only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from db.engine import SessionFactory
from db.models import CatalogEntryRow, CatalogStateRow
from db.types import utcnow


def catalog_key(label: str) -> str:
    return " ".join(label.lower().split())


async def catalog_version(session: AsyncSession) -> int:
    found = (await session.exec(select(CatalogStateRow.version))).first()
    return found or 0


async def bump_version(session: AsyncSession) -> None:
    # One atomic increment: concurrent writers never lose a bump.
    query = update(CatalogStateRow).values(version=col(CatalogStateRow.version) + 1)
    if (await session.exec(query)).rowcount == 0:
        session.add(CatalogStateRow(id=1, version=1))
    await session.flush()


async def enabled_entries(session: AsyncSession) -> Sequence[CatalogEntryRow]:
    query = (
        select(CatalogEntryRow)
        .where(col(CatalogEntryRow.enabled))
        .order_by(col(CatalogEntryRow.id))
    )
    return (await session.exec(query)).all()


_Query = TypeVar("_Query", SelectOfScalar[CatalogEntryRow], SelectOfScalar[int])


def _filtered(query: _Query, search: str | None, make: str | None) -> _Query:
    if search:
        words = catalog_key(search)
        escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(CatalogEntryRow.key).like(f"%{escaped}%", escape="\\"))
    if make:
        query = query.where(func.lower(col(CatalogEntryRow.make)) == make.lower())
    return query


async def list_entries(
    session: AsyncSession,
    *,
    search: str | None = None,
    make: str | None = None,
    after_id: int | None = None,
    limit: int,
) -> Sequence[CatalogEntryRow]:
    query = _filtered(select(CatalogEntryRow), search, make)
    if after_id is not None:
        query = query.where(col(CatalogEntryRow.id) > after_id)
    rows = await session.exec(query.order_by(col(CatalogEntryRow.id)).limit(limit))
    return rows.all()


async def count_entries(
    session: AsyncSession, *, search: str | None = None, make: str | None = None
) -> int:
    query = _filtered(select(func.count()).select_from(CatalogEntryRow), search, make)
    return int((await session.exec(query)).one())


async def existing_keys(session: AsyncSession, *, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    query = select(CatalogEntryRow.key).where(col(CatalogEntryRow.key).in_(keys))
    return set((await session.exec(query)).all())


async def insert_entries(
    session: AsyncSession, *, entries: Sequence[CatalogEntryRow]
) -> list[CatalogEntryRow]:
    """Inserts, in one statement, the entries whose key no row has, and returns
    the rows it stored. One whose key is taken, even by a client or replica
    whose transaction commits while this one runs, is left out without an error
    (ON CONFLICT DO NOTHING: there is no window between a check and the
    insert). The version moves once, and only when a row was stored."""
    if not entries:
        return []
    # In key order: two transactions that insert the same keys then wait for
    # each other in one order, never each for the other (a deadlock on PostgreSQL).
    values = [entry.model_dump(exclude={"id"}) for entry in sorted(entries, key=_key)]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(CatalogEntryRow)
        .values(values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(CatalogEntryRow)
    )
    stored = list((await session.exec(statement)).scalars().all())
    if stored:
        await bump_version(session)
    return stored


def _key(entry: CatalogEntryRow) -> str:
    return entry.key


async def get_entry(session: AsyncSession, *, entry_id: int) -> CatalogEntryRow | None:
    return await session.get(CatalogEntryRow, entry_id)


async def save_entry(session: AsyncSession, *, entry: CatalogEntryRow) -> bool:
    """Writes the entry's changes and moves the version. False, with the
    transaction rolled back and nothing written, when another row has its key:
    one added or renamed by another client since the caller looked."""
    entry.updated_at = utcnow()
    session.add(entry)
    try:
        await session.flush()
    except IntegrityError:  # the unique key: the only constraint a change can break
        await session.rollback()
        return False
    await bump_version(session)
    return True


async def delete_entries(session: AsyncSession, *, ids: Sequence[int]) -> list[int]:
    """Deletes the entries that exist; returns their ids."""
    found = (
        await session.exec(select(CatalogEntryRow.id).where(col(CatalogEntryRow.id).in_(ids)))
    ).all()
    if found:
        await session.exec(delete(CatalogEntryRow).where(col(CatalogEntryRow.id).in_(found)))
        await bump_version(session)
    return [i for i in found if i is not None]


class StoredCatalog:
    """The catalog as the zero-shot recognizer reads it (recognition.prompts.CatalogSource)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def version(self) -> int:
        async with self._sessions() as session:
            return await catalog_version(session)

    async def entries(self) -> Sequence[CatalogEntryRow]:
        async with self._sessions() as session:
            return await enabled_entries(session)
