"""File events across processes: PostgreSQL LISTEN/NOTIFY (JOB_QUEUE=postgres).

Every process (API replica or worker) keeps one asyncpg connection of its own
for this. It sends each event as a small payload, `kind:id`, and listens on the
same channel. Hearing an event, a process that has listeners for that file
re-reads the row (the payload carries no state, and NOTIFY's 8 KB limit never
matters) and delivers it to them. When the connection drops, the relay connects
again, listens again, and sends the current state of every file someone here
listens to, so that nothing is missed across the gap; listeners to every file
are told to resubscribe instead. Events sent meanwhile wait in memory (up to a
bound) and go out once connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection

import asyncpg

from db.models import FileRow
from events import EventBus, FileEventKind

log = logging.getLogger("cars.events")

CHANNEL = "cars_file_events"
# Events waiting to be sent while the connection is down; past this, the
# oldest are dropped (the subscribers' resync covers them).
BACKLOG = 10_000

ReadRows = Callable[[Collection[int]], Awaitable[dict[int, FileRow]]]


class EventRelay:
    def __init__(self, dsn: str, bus: EventBus, read_rows: ReadRows) -> None:
        self._dsn = dsn
        self._bus = bus
        self._read_rows = read_rows
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._incoming: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()

    def send(self, kind: FileEventKind, file_id: int) -> None:
        if self._outgoing.qsize() >= BACKLOG:
            self._outgoing.get_nowait()
        self._outgoing.put_nowait(f"{kind.value}:{file_id}")

    async def start(self) -> None:
        self._bus.relay = self.send
        self._tasks = [
            asyncio.create_task(self._connection_loop()),
            asyncio.create_task(self._deliver_loop()),
        ]
        # Start-up waits for the first connection, so the first events are heard.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=10)

    async def close(self) -> None:
        self._bus.relay = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection_loop(self) -> None:
        backoff = 0.2
        first = True
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._heard)
                self.connected.set()
                if not first:
                    log.info("event relay connected again")
                    await self._resync()
                first, backoff = False, 0.2
                await self._send_loop(connection, lost)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("event relay: %s; connecting again in %.1f s", exc, backoff)
            finally:
                self.connected.clear()
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5)

    async def _send_loop(self, connection: asyncpg.Connection, lost: asyncio.Event) -> None:
        while not lost.is_set():
            waiting = asyncio.ensure_future(self._outgoing.get())
            dropped = asyncio.ensure_future(lost.wait())
            await asyncio.wait({waiting, dropped}, return_when=asyncio.FIRST_COMPLETED)
            dropped.cancel()
            if not waiting.done():
                waiting.cancel()
                return
            batch = [waiting.result()]
            while not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            try:
                # One round trip for the batch; NOTIFYs of one transaction
                # arrive in the order they were sent.
                await connection.execute(
                    "SELECT pg_notify($1, payload) FROM unnest($2::text[])"
                    " WITH ORDINALITY AS t(payload, n) ORDER BY n",
                    CHANNEL,
                    batch,
                )
            except BaseException:
                self._put_back(batch)  # sent once connected again
                raise

    def _put_back(self, batch: list[str]) -> None:
        rest = []
        while not self._outgoing.empty():
            rest.append(self._outgoing.get_nowait())
        for item in [*batch, *rest][-BACKLOG:]:
            self._outgoing.put_nowait(item)

    def _heard(self, _connection: object, _pid: object, _channel: object, payload: object) -> None:
        if isinstance(payload, str):
            self._incoming.put_nowait(payload)

    async def _deliver_loop(self) -> None:
        while True:
            batch = [await self._incoming.get()]
            while not self._incoming.empty():
                batch.append(self._incoming.get_nowait())
            try:
                await self._deliver(batch)
            except Exception:
                log.exception("event relay: could not deliver %d event(s)", len(batch))

    async def _deliver(self, payloads: list[str]) -> None:
        wanted = self._bus.wanted()
        events: list[tuple[FileEventKind, int]] = []
        for payload in payloads:
            name, _, number = payload.partition(":")
            file_id = int(number)
            if wanted is None or file_id in wanted:
                events.append((FileEventKind(name), file_id))
        if not events:
            return  # nobody here listens to these files: nothing to read
        rows = await self._read_rows({i for k, i in events if k is not FileEventKind.DELETED})
        for kind, file_id in events:
            self._bus.deliver(kind, file_id, rows.get(file_id))

    async def _resync(self) -> None:
        ids = self._bus.lost_track()
        if not ids:
            return
        rows = await self._read_rows(ids)
        for file_id in sorted(ids):
            row = rows.get(file_id)
            if row is None:
                self._bus.deliver(FileEventKind.DELETED, file_id, None)
            else:
                self._bus.deliver(FileEventKind(row.status.value), file_id, row)
