"""File events for live progress: the resolvers publish, GraphQL subscriptions
(schema/events.py) listen.

In-process: a server with several worker processes would need a shared broker
(PostgreSQL LISTEN/NOTIFY, say) for every listener to see every event; this one
runs as one process, as its local model and micro-batcher also assume.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

from db.files import FileRow
from errors import FellBehind


class FileEventKind(enum.Enum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    PENDING = "pending"  # back to pending: reprocessed, or the recognizer was unavailable
    DELETED = "deleted"


@dataclass(frozen=True)
class FileEvent:
    kind: FileEventKind
    file_id: int
    row: FileRow  # the file as it was when the event happened (a detached copy)


class Listener:
    def __init__(self, ids: frozenset[int] | None, capacity: int) -> None:
        self.ids = ids
        self._queue: asyncio.Queue[FileEvent] = asyncio.Queue(maxsize=capacity)
        self.overflowed = False

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
                "Events arrived faster than they were read; subscribe again and re-read the files."
            )
        return await self._queue.get()


class EventBus:
    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._listeners: set[Listener] = set()

    def publish(self, kind: FileEventKind, row: FileRow) -> None:
        if row.id is None or not self._listeners:
            return  # most of the time nobody listens: no copy to make
        event = FileEvent(kind, row.id, FileRow.model_validate(row.model_dump()))
        for listener in list(self._listeners):
            listener.offer(event)

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
