"""The `blobs` table: one row per stored image (by sha256), and the row locks
the storage protocol of resolvers/blobs.py takes. Read that module first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import BlobRow, BlobState, FileRow
from db.types import utcnow


def new_epoch() -> str:
    return uuid.uuid4().hex


async def lock_blob(session: AsyncSession, *, sha256: str) -> BlobRow:
    """The row for these bytes, made live if there was none, locked until the
    transaction ends. The first statement writes, so on SQLite the transaction
    holds the database's single write lock from here on."""
    while True:
        await session.exec(_insert_ignore(session, sha256, BlobState.LIVE, new_epoch()))
        row = await lock_existing(session, sha256=sha256)
        if row is not None:
            return row
        # PostgreSQL: the insert saw another's row, which a finishing delete
        # (D3) dropped before the select could lock it. Insert again.


async def lock_existing(session: AsyncSession, *, sha256: str) -> BlobRow | None:
    if session.get_bind().dialect.name == "sqlite":
        # No FOR UPDATE on SQLite: take its write lock with a write that changes nothing.
        await session.exec(
            sa.update(BlobRow).where(col(BlobRow.sha256) == sha256).values(pending=BlobRow.pending)
        )
    query = (
        select(BlobRow)
        .where(col(BlobRow.sha256) == sha256)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).first()


async def add_tombstone(session: AsyncSession, *, sha256: str) -> str | None:
    """Mark bytes that have no row as being deleted. Returns the new row's epoch,
    or None when a row already exists (then whoever owns it decides)."""
    epoch = new_epoch()
    result = await session.exec(_insert_ignore(session, sha256, BlobState.DELETING, epoch))
    return epoch if result.rowcount == 1 else None


async def remove_deleted(session: AsyncSession, *, sha256: str, epoch: str) -> None:
    """Drop the row of a delete that has finished, unless it is another one's."""
    await session.exec(
        delete(BlobRow).where(
            col(BlobRow.sha256) == sha256,
            col(BlobRow.epoch) == epoch,
            col(BlobRow.state) == BlobState.DELETING,
        )
    )


async def count_files(session: AsyncSession, *, sha256: str) -> int:
    query = select(sa.func.count()).select_from(FileRow).where(col(FileRow.sha256) == sha256)
    return (await session.exec(query)).one()


async def stale_blobs(session: AsyncSession, *, before: datetime, limit: int) -> Sequence[str]:
    """Rows the sweep should look at: deletes not finished by now, and live rows
    untouched since `before` that no file uses."""
    unused = ~select(FileRow.id).where(col(FileRow.sha256) == col(BlobRow.sha256)).exists()
    query = (
        select(BlobRow.sha256)
        .where(col(BlobRow.touched_at) < before)
        .where((col(BlobRow.state) == BlobState.DELETING) | unused)
        .limit(limit)
    )
    return (await session.exec(query)).all()


async def without_rows(session: AsyncSession, *, shas: set[str]) -> set[str]:
    """The ones of `shas` that have no row."""
    if not shas:
        return set()
    query = select(BlobRow.sha256).where(col(BlobRow.sha256).in_(shas))
    return shas - set((await session.exec(query)).all())


def _insert_ignore(session: AsyncSession, sha256: str, state: BlobState, epoch: str) -> sa.Insert:
    values = {
        "sha256": sha256,
        "epoch": epoch,
        "state": state,
        "pending": 0,
        "touched_at": utcnow(),
        "created_at": utcnow(),
    }
    if session.get_bind().dialect.name == "postgresql":
        return (
            postgresql.insert(BlobRow)
            .values(values)
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
    return sqlite.insert(BlobRow).values(values).on_conflict_do_nothing(index_elements=["sha256"])
