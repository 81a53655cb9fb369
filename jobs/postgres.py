"""Jobs in PostgreSQL through pgqueuer (JOB_QUEUE=postgres).

Chosen over procrastinate (both measured on this machine's PostgreSQL, see
docs/deploying.md): it speaks asyncpg, the driver the server already uses; its workers send
heartbeats and a job whose worker went silent is picked again by the same
dequeue query, with no sweeper to write; a dedupe key keeps one live job per
file; and it started jobs about twice as soon and ran about nine times as many
per second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, Queries, QueueManager
from pgqueuer.errors import RetryRequested
from pgqueuer.models import Job
from sqlmodel.ext.asyncio.session import AsyncSession

from db.engine import driver_connection
from errors import RecognizerUnavailable, Unavailable
from jobs import Handler

log = logging.getLogger("cars.jobs")

ENTRYPOINT = "recognize"
# A job that could not reach the database is tried again after this long.
RETRY_DELAY = timedelta(seconds=2)


async def install(connection: asyncpg.Connection) -> None:
    """Create pgqueuer's tables once (under the start-up lock, see db/migrate.py)."""
    queries = Queries(AsyncpgDriver(connection))
    if not await queries.schema_is_installed():
        await queries.install()
        log.info("installed the job queue's tables")


class PostgresQueue:
    kind = "postgres"

    def __init__(self, dsn: str, *, concurrency: int, heartbeat_seconds: float) -> None:
        self._dsn = dsn
        self._concurrency = concurrency
        self._heartbeat = timedelta(seconds=heartbeat_seconds)
        self.jobs_run = 0  # by this process, for /health and the tests

    async def add(self, session: AsyncSession, file_ids: Sequence[int]) -> None:
        if not file_ids:
            return
        # The session's own connection: the jobs commit with the status change.
        queries = Queries(AsyncpgDriver(await driver_connection(session)))
        count = len(file_ids)
        await queries.enqueue(
            [ENTRYPOINT] * count,
            [str(i).encode() for i in file_ids],
            [0] * count,
            # While a file's job is queued or running, it is not queued again.
            dedupe_key=[f"{ENTRYPOINT}:{i}" for i in file_ids],
            on_conflict="skip",
        )

    def added(self, file_ids: Sequence[int]) -> None:
        pass  # the workers hear of new jobs through pgqueuer's NOTIFY

    @asynccontextmanager
    async def working(self, handler: Handler) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(self._work(handler, stop))
        try:
            yield
        finally:
            stop.set()
            try:
                # Running jobs finish; new ones are left to the other workers.
                await asyncio.wait_for(task, timeout=60)
            except TimeoutError:
                log.warning("jobs still running at shutdown were cut off")

    async def _work(self, handler: Handler, stop: asyncio.Event) -> None:
        """Run a queue manager; start another when its connection is lost."""
        backoff = 0.5
        while not stop.is_set():
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn)
                manager = self._manager(connection, handler)
                run = asyncio.create_task(
                    manager.run(
                        dequeue_timeout=timedelta(seconds=5),
                        batch_size=max(1, self._concurrency // 2),
                        max_concurrent_tasks=self._concurrency,
                        heartbeat_timeout=self._heartbeat,
                    )
                )
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({run, stopping}, return_when=asyncio.FIRST_COMPLETED)
                manager.shutdown.set()
                stopping.cancel()
                await run
                backoff = 0.5
            except Exception as exc:
                if stop.is_set():
                    return
                log.warning("job queue connection lost (%s); again in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                if connection is not None:
                    await connection.close(timeout=5)

    def _manager(self, connection: asyncpg.Connection, handler: Handler) -> QueueManager:
        manager = QueueManager(Queries(AsyncpgDriver(connection)))

        @manager.entrypoint(ENTRYPOINT)
        async def recognize(job: Job) -> None:
            file_id = int((job.payload or b"0").decode())
            # What each worker took and finished, for whoever watches a cluster.
            log.info("took job %s: file %s", job.id, file_id)
            try:
                await handler(file_id)
                log.info("finished job %s: file %s", job.id, file_id)
            except Unavailable as exc:
                if isinstance(exc, RecognizerUnavailable):
                    return  # the handler left the file pending, with the reason
                # The database is down: the job waits and is tried again.
                raise RetryRequested(delay=RETRY_DELAY, reason=exc.message) from exc
            finally:
                self.jobs_run += 1

        return manager
