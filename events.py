"""File events for live progress: the resolvers publish, GraphQL subscriptions
(schema/events.py) and requests waiting for jobs listen.

The bus is in-process. With JOB_QUEUE=postgres the work happens in other
processes too, so a relay (notify.py) carries each event through PostgreSQL
LISTEN/NOTIFY: `publish` hands it to the relay, and every process, this one
included, hears it back and delivers it to its own listeners.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

from db.models import FileRow
from errors import FellBehind


class FileEventKind(enum.Enum):
    UPLOADED = "uploaded"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    PENDING = "pending"  # back to pending: reprocessed, or the recognizer was unavailable
    DELETED = "deleted"


@dataclass(frozen=True)
class FileEvent:
    kind: FileEventKind
    file_id: int
    # The file as it was when the event happened (a detached copy), or as it was
    # read when the event arrived from another process; None once deleted.
    row: FileRow | None


class Listener:
    def __init__(self, ids: frozenset[int] | None, capacity: int) -> None:
        self.ids = ids
        self._queue: asyncio.Queue[FileEvent] = asyncio.Queue(maxsize=capacity)
        self.overflowed = False
        self._woken = asyncio.Event()

    def offer(self, event: FileEvent) -> None:
        if self.ids is not None and event.file_id not in self.ids:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # Dropping events silently would leave a progress bar stuck; the
            # listener is told instead, and can resubscribe and re-read.
            self.overflowed = True

    async def next(self) -> FileEvent:
        if self.overflowed and self._queue.empty():
            raise FellBehind(
                "Events arrived faster than they were read, or were lost; subscribe again and"
                " re-read the files."
            )
        self._woken.clear()
        get = asyncio.ensure_future(self._queue.get())
        woken = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait({get, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            if not get.done():
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        return await self.next()  # woken: raises FellBehind

    def wake(self) -> None:
        self._woken.set()


class EventBus:
    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._listeners: set[Listener] = set()
        # Set by the PostgreSQL relay: events then go to every process.
        self.relay: Callable[[FileEventKind, int], None] | None = None

    def publish(self, kind: FileEventKind, row: FileRow) -> None:
        if row.id is None:
            return
        if self.relay is not None:
            self.relay(kind, row.id)
            return
        self.deliver(kind, row.id, row)

    def deliver(self, kind: FileEventKind, file_id: int, row: FileRow | None) -> None:
        """Hand an event to this process's listeners."""
        if not self._listeners:
            return  # most of the time nobody listens: no copy to make
        copy = FileRow.model_validate(row.model_dump()) if row is not None else None
        event = FileEvent(kind, file_id, copy)
        for listener in list(self._listeners):
            listener.offer(event)

    def wanted(self) -> set[int] | None:
        """The files someone here listens to; None when someone wants them all."""
        ids: set[int] = set()
        for listener in self._listeners:
            if listener.ids is None:
                return None
            ids |= listener.ids
        return ids

    def lost_track(self) -> set[int]:
        """After the relay lost its connection, events may have been missed.
        Listeners to every file are told to resubscribe (FELL_BEHIND); the ids
        of the others are returned, for their files' current state to be sent."""
        ids: set[int] = set()
        for listener in self._listeners:
            if listener.ids is None:
                listener.overflowed = True
                listener.wake()
            else:
                ids |= listener.ids
        return ids

    @asynccontextmanager
    async def listen(self, ids: Collection[int] | None = None) -> AsyncIterator[Listener]:
        listener = Listener(frozenset(ids) if ids is not None else None, self.capacity)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        return len(self._listeners)
