"""The one bound on decoding pixels, shared by every path that does it (upload
checks, thumbnails, recognition).

A decode holds the whole image in memory: 4 bytes a pixel in Pillow, 256 MB for
64 megapixels, whatever its size on disk (a flat 8000x8000 PNG is 200 KB). So
the pool bounds two things: how many decodes run at once (its threads, one per
core: more would not go faster), and how many bytes of pixels they may hold
together (DECODE_MEMORY_MB). Each decode reserves its estimate before it starts
and waits, first come first served, while the budget is spent; one larger than
the whole budget runs alone.

Decodes run on the pool's own threads, so only those few threads' malloc arenas
ever hold image-sized blocks, and after a large decode the freed memory is
handed back to the system (malloc_trim) instead of staying in the arena: without
it the server kept gigabytes after a burst of thumbnails. A little of it is
kept on purpose (`keep_pixel_memory`, DECODE_CACHE_MB): Pillow's own cache of
pixel blocks, so the next photo is decoded into memory already mapped. Fresh
memory costs a page fault per 4 KB: about 30 ms of a 12 MP decode's 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from PIL import _imaging as pixels

T = TypeVar("T")

BYTES_PER_PIXEL = 4  # Pillow stores RGB as RGBX; an upper bound for the modes we read
MB = 1024 * 1024
# Below this, giving memory back costs more than it returns.
_TRIM_AFTER = 32 * MB


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), or nothing where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def give_back() -> None:
        trim(0)

    return give_back


def keep_pixel_memory(max_bytes: int) -> None:
    """Let Pillow keep up to `max_bytes` of freed pixel blocks for reuse
    (process-wide; what PILLOW_BLOCKS_MAX sets). They are reused whole, so
    memory held stays at most this much above what the decodes need."""
    pixels.set_blocks_max(max_bytes // pixels.get_block_size())


class DecodePool:
    def __init__(self, *, memory_bytes: int, threads: int | None = None) -> None:
        self.memory_bytes = memory_bytes
        self.threads = threads or os.cpu_count() or 1
        self._free = memory_bytes
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="decode")
        self._trim = _malloc_trim()

    async def run(self, work: Callable[[], T], *, cost: int | None) -> T:
        """Run `work` on a decode thread once `cost` bytes (None: unknown, taken as
        the whole budget) of the budget are free. Cancelling the caller does not
        free the reservation before the work has really stopped."""
        cost = self.memory_bytes if cost is None else min(max(cost, 0), self.memory_bytes)
        await self._reserve(cost)
        loop = asyncio.get_running_loop()
        try:
            job = self._executor.submit(self._job, work, cost)
        except BaseException:
            self._release(cost)
            raise
        # Released when the thread is done with it (or the job never started),
        # not when an awaiting request is cancelled.
        job.add_done_callback(lambda _: self._release_from_thread(loop, cost))
        return await asyncio.wrap_future(job)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _job(self, work: Callable[[], T], cost: int) -> T:
        try:
            return work()
        finally:
            if cost >= _TRIM_AFTER:
                self._trim()

    async def _reserve(self, cost: int) -> None:
        if not self._waiting and cost <= self._free:
            self._free -= cost
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (cost, turn)
        self._waiting.append(entry)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():  # granted just as we were cancelled
                self._release(cost)
            else:
                self._waiting.remove(entry)
                self._grant()  # a smaller one behind us may fit now
            raise

    def _release_from_thread(self, loop: asyncio.AbstractEventLoop, cost: int) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the server has stopped
            loop.call_soon_threadsafe(self._release, cost)

    def _release(self, cost: int) -> None:
        self._free += cost
        self._grant()

    def _grant(self) -> None:
        # In order of arrival: a large decode is not overtaken forever by small ones.
        while self._waiting and self._waiting[0][0] <= self._free:
            cost, turn = self._waiting.popleft()
            self._free -= cost
            turn.set_result(None)


def decoded_bytes(width: int, height: int, *, fit: int | None = None) -> int:
    """The most memory decoding a `width` x `height` image may hold: its pixels
    (JPEGs decoded at reduced scale hold less: the estimate errs high). Shrunk
    to `fit`, an image too narrow to be reduced while it is read is converted
    whole, which copies it once more."""
    pixels = max(width, 0) * max(height, 0) * BYTES_PER_PIXEL
    if fit is not None and min(width, height) < 2 * fit:
        return 2 * pixels
    return pixels
