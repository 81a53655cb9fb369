"""The resources every request shares, opened once in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from config import Settings
from db.catalog import StoredCatalog
from db.engine import SessionFactory, create_engine, create_session_factory
from db.files import all_stored_keys, release_interrupted
from db.migrate import migrate
from errors import Unavailable
from events import EventBus
from recognition.base import Recognizer
from recognition.factory import create_recognizer
from storage.blobs import BlobStore

log = logging.getLogger("cars")


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    blobs: BlobStore
    recognizer: Recognizer
    # One recognition of a file at a time (striped by id, like the blob locks).
    file_locks: list[asyncio.Lock] = field(
        default_factory=lambda: [asyncio.Lock() for _ in range(64)]
    )

    # How many uploads may decode their pixels at the same time (see
    # resolvers/uploads.py): one per core.
    decode_slots: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(os.cpu_count() or 1)
    )

    # What happens to files, for live subscriptions.
    events: EventBus = field(default_factory=EventBus)

    # SQLite lets one connection write at a time, and the others poll for the
    # lock in no order: under load a writer could wait past busy_timeout and
    # fail. This process's writers take turns here instead, first come first
    # served, and reads (WAL) go on beside them. PostgreSQL needs no such turn.
    write_turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    def file_lock(self, file_id: int) -> asyncio.Lock:
        return self.file_locks[file_id % len(self.file_locks)]

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """A database session; a lost or locked database becomes `Unavailable`
        (503) instead of an unexplained 500. `write`: the session will commit
        changes (it waits for its turn on SQLite)."""
        serial = write and self.engine.dialect.name == "sqlite"
        try:
            turn = self.write_turn if serial else contextlib.nullcontext()
            async with turn, self.sessions() as session:
                yield session
        except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError) as exc:
            log.warning("database unavailable: %s", exc)
            raise Unavailable("The database is unavailable right now; try again shortly.") from exc
        except sa_exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.warning("database connection lost: %s", exc)
            raise Unavailable("The database connection was lost; try again shortly.") from exc


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    blobs = BlobStore(settings.upload_dir)
    blobs.prepare()
    engine = create_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        busy_timeout=settings.db_busy_timeout_seconds,
    )
    try:
        await migrate(engine)
        sessions = create_session_factory(engine)
        services = Services(
            settings=settings,
            engine=engine,
            sessions=sessions,
            blobs=blobs,
            recognizer=create_recognizer(settings, catalog=StoredCatalog(sessions)),
        )
        async with services.session(write=True) as session:
            keys = await all_stored_keys(session)
            released = await release_interrupted(session)
            await session.commit()
        if released:
            log.info("%d file(s) left processing by a crash are pending again", released)
        removed = await anyio.to_thread.run_sync(
            lambda: blobs.sweep(keys, grace_seconds=settings.orphan_grace_seconds)
        )
        if removed:
            log.info("removed %d leftover file(s) from an earlier crash", removed)
        await services.recognizer.start()
        try:
            yield services
        finally:
            await services.recognizer.close()
    finally:
        await engine.dispose()
