"""The resources every request shares, opened once in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from config import Settings
from db.engine import (
    SessionFactory,
    asyncpg_dsn,
    create_engine,
    create_session_factory,
    driver_connection,
    outage_as_unavailable,
)
from db.files import FileRow, all_stored_keys, files_by_ids, release_interrupted
from db.migrate import migrate, startup_lock
from events import EventBus
from jobs import JobQueue
from jobs.inprocess import InProcessQueue
from notify import EventRelay
from recognition.base import Recognizer
from recognition.factory import create_recognizer
from storage.blobs import BlobStore
from storage.decode_pool import MB, DecodePool

log = logging.getLogger("cars")
T = TypeVar("T")


class SingleFlight:
    """Concurrent calls for one key share one run: the first starts it, the
    others wait for its outcome. The run belongs to no request, so a caller
    that goes away cancels only its own wait."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        flight = self._running.get(key)
        if flight is None:
            flight = asyncio.ensure_future(make())
            self._running[key] = flight
            flight.add_done_callback(lambda done: self._land(key, done))
        result: T = await asyncio.shield(flight)
        return result

    def _land(self, key: Hashable, flight: asyncio.Future[Any]) -> None:
        if self._running.get(key) is flight:
            del self._running[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: every waiter may have gone


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    blobs: BlobStore
    recognizer: Recognizer
    # Every decode of pixels (upload checks, thumbnails, recognition) runs here,
    # within one budget of threads and memory.
    decoder: DecodePool
    # Where recognition jobs wait (jobs/): in this process, or in PostgreSQL.
    jobs: JobQueue
    # One recognition of a file at a time (striped by id, like the blob locks).
    file_locks: list[asyncio.Lock] = field(
        default_factory=lambda: [asyncio.Lock() for _ in range(64)]
    )

    # Thumbnails being made: requests for the same one wait for it.
    thumbnails: SingleFlight = field(default_factory=SingleFlight)

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
        turn = self.write_turn if serial else contextlib.nullcontext()
        async with outage_as_unavailable(), turn, self.sessions() as session:
            yield session


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    blobs = BlobStore(settings.upload_dir)
    await anyio.to_thread.run_sync(blobs.prepare)
    decoder = DecodePool(memory_bytes=settings.decode_memory_mb * MB)
    engine = create_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        busy_timeout=settings.db_busy_timeout_seconds,
    )
    try:
        services = Services(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            blobs=blobs,
            recognizer=create_recognizer(settings, decoder),
            decoder=decoder,
            jobs=_job_queue(settings),
        )
        # Replicas and workers started together take turns here (PostgreSQL).
        async with startup_lock(engine):
            await migrate(engine)
            await _housekeeping(services)
        relay = _event_relay(services)
        if relay is not None:
            await relay.start()
        await services.recognizer.start()
        try:
            yield services
        finally:
            await services.recognizer.close()
            if relay is not None:
                await relay.close()
    finally:
        await engine.dispose()
        decoder.close()
        blobs.close()


def _job_queue(settings: Settings) -> JobQueue:
    if settings.job_queue == "postgres":
        from jobs.postgres import PostgresQueue  # pgqueuer is needed only then

        return PostgresQueue(
            asyncpg_dsn(settings.resolved_database_url),
            concurrency=settings.worker_concurrency,
            heartbeat_seconds=settings.job_heartbeat_seconds,
        )
    return InProcessQueue(settings.infer_concurrency)


def _event_relay(services: Services) -> EventRelay | None:
    if services.settings.job_queue != "postgres":
        return None  # one process: the in-process bus reaches every listener

    async def read_rows(ids: Collection[int]) -> dict[int, FileRow]:
        async with services.session() as session:
            rows = await files_by_ids(session, ids=sorted(ids))
        return {row.id: row for row in rows if row.id is not None}

    return EventRelay(
        asyncpg_dsn(services.settings.resolved_database_url), services.events, read_rows
    )


async def _housekeeping(services: Services) -> None:
    """What a crash may have left behind, tidied before serving."""
    settings = services.settings
    async with services.session(write=True) as session:
        if settings.job_queue == "postgres":
            from jobs.postgres import install

            await install(await driver_connection(session))
        keys = await all_stored_keys(session)
        # Files left `processing` by this process's last run. With the
        # PostgreSQL queue they belong to jobs another worker will pick up
        # once their worker's heartbeat stops: left alone.
        released = 0 if settings.job_queue == "postgres" else await release_interrupted(session)
        await session.commit()
    if released:
        log.info("%d file(s) left processing by a crash are pending again", released)
    blobs = services.blobs
    removed = await anyio.to_thread.run_sync(
        lambda: blobs.sweep(keys, grace_seconds=settings.orphan_grace_seconds)
    )
    if removed:
        log.info("removed %d leftover file(s) from an earlier crash", removed)
