"""Jobs run by this process, as asyncio tasks (the embedded default)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlmodel.ext.asyncio.session import AsyncSession

from jobs import Handler

log = logging.getLogger("cars.jobs")


class InProcessQueue:
    kind = "inprocess"

    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._handler: Handler | None = None
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def add(self, session: AsyncSession, file_ids: Sequence[int]) -> None:
        pass  # the files' QUEUED status is the record

    def added(self, file_ids: Sequence[int]) -> None:
        if self._handler is None:
            return  # not working yet: the start-up queues QUEUED files again
        for file_id in file_ids:
            if file_id not in self._tasks:  # one job per file at a time
                task = asyncio.create_task(self._run(self._handler, file_id))
                self._tasks[file_id] = task
                task.add_done_callback(functools.partial(self._forget, file_id))

    def _forget(self, file_id: int, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(file_id, None)

    async def _run(self, handler: Handler, file_id: int) -> None:
        async with self._slots:
            try:
                await handler(file_id)
            except Exception:
                log.exception("the recognition job of file %s failed", file_id)

    @asynccontextmanager
    async def working(self, handler: Handler) -> AsyncIterator[None]:
        self._handler = handler
        try:
            yield
        finally:
            self._handler = None
            # Files whose job had not started stay QUEUED for the next start.
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)
