"""The resources every request shares, opened once in the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from config import Settings
from db.engine import SessionFactory, create_engine, create_session_factory
from db.files import all_stored_keys
from db.migrate import migrate
from errors import Unavailable
from storage.blobs import BlobStore

log = logging.getLogger("cars")


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    blobs: BlobStore

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A database session; a lost or locked database becomes `Unavailable`
        (503) instead of an unexplained 500."""
        try:
            async with self.sessions() as session:
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
    engine = create_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)
    try:
        await migrate(engine)
        services = Services(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            blobs=blobs,
        )
        async with services.session() as session:
            keys = await all_stored_keys(session)
        removed = await anyio.to_thread.run_sync(
            lambda: blobs.sweep(keys, grace_seconds=settings.orphan_grace_seconds)
        )
        if removed:
            log.info("removed %d leftover file(s) from an earlier crash", removed)
        yield services
    finally:
        await engine.dispose()
