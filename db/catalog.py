"""The catalog of car models the zero-shot backend names, and its version.

Every change bumps one counter row (`catalog_state.version`) in the same
transaction, so each replica and worker sees a change by reading one integer
before a batch, and reloads the entries only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

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
) -> Sequence[CatalogEntryRow]:
    for entry in entries:
        session.add(entry)
    await bump_version(session)
    return entries


async def get_entry(session: AsyncSession, *, entry_id: int) -> CatalogEntryRow | None:
    return await session.get(CatalogEntryRow, entry_id)


async def save_entry(session: AsyncSession, *, entry: CatalogEntryRow) -> CatalogEntryRow:
    entry.updated_at = utcnow()
    session.add(entry)
    await bump_version(session)
    return entry


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
