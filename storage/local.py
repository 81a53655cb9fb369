"""Objects as files in a folder (UPLOAD_DIR): the default, for one machine.

A put links the caller's file to a scratch name in this process's folder
(UPLOAD_DIR/tmp/<pid>-<id>/, swept when the process is gone) and renames it into
place, then fsyncs the folder: after a crash an object is whole or absent, and
the bytes are never copied (the upload's temporary file is on the same disk).
"""

from __future__ import annotations

import glob
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import anyio

from storage.objects import CHUNK, IMAGES, THUMBS, ObjectInfo, sha_of

_LIST_BATCH = 1000


class LocalFile:
    """An open file: deleting the object later does not cut this read short."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle: BinaryIO | None = handle
        self.size = os.fstat(handle.fileno()).st_size

    async def chunks(self) -> AsyncIterator[bytes]:
        assert self.handle is not None
        while chunk := await anyio.to_thread.run_sync(self.handle.read, CHUNK):
            yield chunk

    async def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


class LocalObjects:
    def __init__(self, root: Path, *, scratch: Callable[[str], Path] | None = None) -> None:
        """`scratch` gives fresh temporary paths on the same file system; by
        default, hidden names beside each destination."""
        self.root = root
        self.description = "folder UPLOAD_DIR"  # never the server's paths
        self._scratch = scratch

    def path(self, key: str) -> Path:
        if sha_of(key) is None:  # keys come from our own rows; never trust a path blindly
            raise ValueError(f"not an object key: {key!r}")
        return self.root / key

    async def start(self) -> None:
        for folder in (IMAGES, THUMBS):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    async def put(self, key: str, source: Path) -> None:
        await anyio.to_thread.run_sync(self._put, self.path(key), source)

    def _put(self, dest: Path, source: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = (
            self._scratch(".tmp") if self._scratch else dest.with_name(f".{uuid.uuid4().hex}.tmp")
        )
        try:
            os.link(source, temp)
            os.replace(temp, dest)
        finally:
            temp.unlink(missing_ok=True)
        _fsync_dir(dest.parent)

    async def open(self, key: str) -> LocalFile | None:
        try:
            handle = await anyio.to_thread.run_sync(self.path(key).open, "rb")
        except FileNotFoundError:
            return None
        return LocalFile(handle)

    @asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path | None]:
        path = self.path(key)
        yield path if await anyio.Path(path).exists() else None

    async def exists(self, key: str) -> bool:
        return await anyio.Path(self.path(key)).exists()

    async def delete(self, key: str) -> None:
        await anyio.Path(self.path(key)).unlink(missing_ok=True)

    async def scan(self, prefix: str) -> AsyncIterator[list[ObjectInfo]]:
        infos = await anyio.to_thread.run_sync(self._scan, prefix)
        for start in range(0, len(infos), _LIST_BATCH):
            yield infos[start : start + _LIST_BATCH]

    def _scan(self, prefix: str) -> list[ObjectInfo]:
        # A thumbnail prefix names one image's thumbnails: glob just those.
        if prefix.startswith(THUMBS):
            patterns = [f"{THUMBS}{glob.escape(prefix[len(THUMBS) :])}*"]
        else:
            patterns = [f"{IMAGES}??/*", f"{THUMBS}*"]
        found: list[ObjectInfo] = []
        for pattern in patterns:
            for path in self.root.glob(pattern):
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix) or sha_of(key) is None:
                    continue
                try:
                    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                except FileNotFoundError:
                    continue  # removed while we looked
                found.append(ObjectInfo(key=key, modified=modified))
        return found

    async def usable(self) -> tuple[bool, str]:
        return await anyio.to_thread.run_sync(self._probe)

    def _probe(self) -> tuple[bool, str]:
        probe = self.root / IMAGES / f".health-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            # strerror, not the exception: that names the server's paths
            return False, f"the image folder is not writable: {exc.strerror or 'error'}"
        return True, "writable"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
