"""Small JPEG previews, upright and in RGB, made once per image and size."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from PIL import Image

from storage.decode import open_upright_rgb


def make_thumbnail(source: Path, dest: Path, *, size: int) -> None:
    image = open_upright_rgb(source, fit=size * 2)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    temp = dest.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        image.save(temp, "JPEG", quality=85, optimize=True)
        os.replace(temp, dest)  # readers see no thumbnail or a whole one
    finally:
        temp.unlink(missing_ok=True)


class Flights:
    """One holder per key at a time, in this process: the first request for a
    missing thumbnail makes it, and those arriving meanwhile wait and reuse it
    instead of decoding the same photo again. Keys are forgotten when unused."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
