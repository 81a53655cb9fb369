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
from db.catalog import StoredCatalog
from db.engine import (
    SessionFactory,
    asyncpg_dsn,
    create_engine,
    create_session_factory,
    driver_connection,
    outage_as_unavailable,
)
from db.files import files_by_ids, release_interrupted
from db.migrate import migrate, startup_lock
from db.models import FileRow
from events import EventBus
from jobs import JobQueue
from jobs.inprocess import InProcessQueue
from notify import EventRelay
from recognition.base import Recognizer
from recognition.factory import create_recognizer
from storage.blobs import BlobStore
from storage.decode_pool import MB, DecodePool, keep_pixel_memory
from storage.objects import ObjectStore, create_object_store

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
    blobs: BlobStore  # uploads while they are checked, on this machine
    objects: ObjectStore  # images and thumbnails: a folder or a bucket
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

    # Thumbnails being made by this process: requests for the same one wait for it.
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
    objects = create_object_store(settings, blobs.scratch)
    decoder = DecodePool(memory_bytes=settings.decode_memory_mb * MB)
    keep_pixel_memory(settings.decode_cache_mb * MB)
    engine = create_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        busy_timeout=settings.db_busy_timeout_seconds,
    )
    try:
        await objects.start()
        sessions = create_session_factory(engine)
        services = Services(
            settings=settings,
            engine=engine,
            sessions=sessions,
            blobs=blobs,
            objects=objects,
            recognizer=create_recognizer(settings, decoder, catalog=StoredCatalog(sessions)),
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
        sweeper = asyncio.create_task(_sweep_forever(services), name="storage sweep")
        try:
            yield services
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
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
    """What a crash may have left behind, tidied before serving (under the
    start-up lock, so replicas and workers starting together do it in turns)."""
    settings = services.settings
    async with services.session(write=True) as session:
        if settings.job_queue == "postgres":
            from jobs.postgres import install

            await install(await driver_connection(session))
        # Files left `processing` by this process's last run. With the
        # PostgreSQL queue they belong to jobs another worker will pick up
        # once their worker's heartbeat stops: left alone.
        released = 0 if settings.job_queue == "postgres" else await release_interrupted(session)
        await session.commit()
    if released:
        log.info("%d file(s) left processing by a crash are pending again", released)
    blobs = services.blobs
    swept = await anyio.to_thread.run_sync(
        lambda: blobs.sweep(grace_seconds=settings.orphan_grace_seconds)
    )
    if swept.removed:
        log.info("removed %d partial file(s) left by an earlier crash", swept.removed)
    # Images in this machine's folder, and no other process live on it: nothing
    # can be between "put the image" and "commit its row", so what a crash left
    # goes now. A bucket is shared with processes we cannot see: the grace holds.
    alone = swept.alone and settings.storage_url is None
    await _sweep_once(services, grace_seconds=0 if alone else None)


async def _sweep_forever(svc: Services) -> None:
    while True:
        await asyncio.sleep(svc.settings.orphan_sweep_seconds)
        await _sweep_once(svc)


async def _sweep_once(svc: Services, *, grace_seconds: float | None = None) -> None:
    """The storage sweep (resolvers/blobs.py); a failed round is logged, and the
    next one, ORPHAN_SWEEP_SECONDS later, tries again."""
    from resolvers.blobs import sweep  # resolvers import this module

    try:
        removed = await sweep(svc, grace_seconds=grace_seconds)
    except Exception as exc:
        log.warning("storage sweep failed, will try again: %s", exc)
        return
    if removed:
        log.info("storage sweep removed %d unused image(s)", removed)
