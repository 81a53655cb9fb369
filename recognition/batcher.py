"""Grouping requests that arrive together into one batch for the model."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class MicroBatcher(Generic[In, Out]):
    """Runs batches of at most `max_size` items, one batch at a time, so the
    model never competes with itself for the cores.

    A batch takes what is queued. It waits (up to `max_wait` seconds) for more
    only while callers have announced items still being prepared (`coming()`):
    a lone request runs at once, and requests decoded side by side share a batch.
    """

    def __init__(
        self,
        run: Callable[[list[In]], Awaitable[list[Out]]],
        *,
        max_size: int,
        max_wait: float,
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._max_wait = max_wait
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] = asyncio.Queue()
        self._coming = 0
        self._worker: asyncio.Task[None] | None = None

    @contextmanager
    def coming(self) -> Iterator[None]:
        """Around the preparation of an item that will be submitted."""
        self._coming += 1
        try:
            yield
        finally:
            self._coming -= 1

    async def submit(self, item: In) -> Out:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="micro-batcher")
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            future.cancel()

    async def _work(self) -> None:
        while True:
            batch = await self._next_batch()
            # Callers that gave up (a closed connection) are left out.
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                continue
            try:
                results = await self._run([item for item, _ in live])
            except Exception as exc:
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _next_batch(self) -> list[tuple[In, asyncio.Future[Out]]]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self._max_wait
        while len(batch) < self._max_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if self._coming == 0 or remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch
