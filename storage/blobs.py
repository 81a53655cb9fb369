"""Uploads as they come in, and this process's scratch space, on this machine.

Each upload is copied to a temporary file, hashed and size-checked, so it can be
checked as an image before anything is stored. Where the bytes go next is the
object store's business (storage/objects.py, by the protocol in
resolvers/blobs.py). Whatever the store, the scratch space stays local:

    UPLOAD_DIR/tmp/<pid>-<id>/  one per server or worker process: its uploads
                                while they stream in (*.part), its thumbnails
                                and S3 downloads while they are made, and `lock`,
                                which the process holds (flock) for life
                                (tmp/ itself is flocked while a process claims
                                its folder or sweeps)

What a crash leaves behind is found at the next start by the lock files, not by
age (`sweep`): a folder whose lock nobody holds belonged to a dead process, and
goes at once, whatever its age. The sweep also says whether another live
process shares UPLOAD_DIR: with the local object store and nobody else, the
start-up sweep of images (resolvers/blobs.py) need not wait a grace period.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from errors import EmptyUpload, TooLarge

CHUNK = 1024 * 1024
_OWNER_LOCK = "lock"


@dataclass(frozen=True)
class TempBlob:
    path: Path
    size: int
    sha256: str


def sync(blob: TempBlob) -> None:
    """fsync a received upload: before its database row is committed, the bytes
    must be on disk. Apart from the copy, so it can run beside the image check."""
    fd = os.open(blob.path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """One upload being written into tmp/ as its bytes arrive: hashed and
    counted on the way, refused (TooLarge) the moment it passes `limit`, so an
    oversized file never lands whole. Its methods block: call them off the loop
    (hashlib and file writes let go of the GIL, so the loop keeps receiving)."""

    def __init__(self, path: Path, *, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self._digest = hashlib.sha256()
        self._out: BinaryIO | None = path.open("wb")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._out is None:
            raise RuntimeError("BlobWriter is closed")
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(f"The file is larger than the {_mb(self.limit)} limit.")
        self._digest.update(data)
        self._out.write(data)

    def finish(self) -> TempBlob:
        """The whole file, closed; raises EmptyUpload for no bytes at all."""
        if self._out is None:
            raise RuntimeError("BlobWriter is closed")
        self._out.close()
        self._out = None
        if self.size == 0:
            self.path.unlink(missing_ok=True)
            raise EmptyUpload("The file is empty.")
        return TempBlob(path=self.path, size=self.size, sha256=self._digest.hexdigest())

    def discard(self) -> None:
        """Close and remove what was written (a refused or abandoned upload)."""
        if self._out is not None:
            self._out.close()
            self._out = None
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Swept:
    removed: int  # files removed
    alone: bool  # no other live process shares UPLOAD_DIR


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self._work: Path | None = None  # this process's folder under tmp/
        self._owner_fd: int | None = None  # holds its lock while open

    @property
    def work(self) -> Path:
        if self._work is None:
            raise RuntimeError("BlobStore.prepare() has not run")
        return self._work

    def prepare(self) -> None:
        """Make tmp/ and claim this process's own folder in it."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        with self._sweep_turn():  # a sweeper never sees a folder not yet locked
            work = self.tmp / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
            work.mkdir()
            fd = os.open(work / _OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # a new file: nobody else can hold it
        self._work, self._owner_fd = work, fd

    def close(self) -> None:
        """Give up this process's folder (at shutdown, once no upload is in flight)."""
        if self._owner_fd is None:
            return
        shutil.rmtree(self.work, ignore_errors=True)
        os.close(self._owner_fd)  # the lock goes with the descriptor
        self._work = self._owner_fd = None

    def scratch(self, suffix: str) -> Path:
        """A fresh path in this process's folder (on UPLOAD_DIR's file system, so
        the local object store links it into place without a copy)."""
        return self.work / f"{uuid.uuid4().hex}{suffix}"

    def receive(self, source: BinaryIO, *, limit: int) -> TempBlob:
        """Copy an upload into tmp/, hashing it, and refuse it past `limit` bytes.
        The copy is not yet fsynced: see `sync`."""
        writer = self.writer(limit=limit)
        try:
            source.seek(0)
            while chunk := source.read(CHUNK):
                writer.write(chunk)
            return writer.finish()
        except BaseException:
            writer.discard()
            raise

    def writer(self, *, limit: int) -> BlobWriter:
        """A new file in tmp/ to write an upload into as it arrives."""
        return BlobWriter(self.scratch(".part"), limit=limit)

    def sweep(self, *, grace_seconds: float) -> Swept:
        """Remove the folders of processes that are gone (their partial uploads,
        thumbnails and downloads), and say whether another process is alive."""
        with self._sweep_turn():
            removed, others_alive = self._sweep_folders()
            # From servers before per-process folders: theirs while one may be live.
            cutoff = time.time() - grace_seconds if others_alive else float("inf")
            for leftover in self.tmp.glob("*.part"):
                if _older(leftover, cutoff):
                    leftover.unlink(missing_ok=True)
                    removed += 1
        return Swept(removed=removed, alone=not others_alive)

    def _sweep_folders(self) -> tuple[int, bool]:
        """Remove the tmp/ folders whose owner is gone; also say whether any
        other owner is alive."""
        removed, others_alive = 0, False
        for folder in self.tmp.iterdir():
            if not folder.is_dir() or folder == self._work:
                continue
            try:
                fd = os.open(folder / _OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                continue  # vanished meanwhile, or not ours to judge
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                others_alive = True
                continue
            finally:
                os.close(fd)  # also drops the lock, if we took it
            removed += sum(1 for f in folder.iterdir() if f.name != _OWNER_LOCK)
            shutil.rmtree(folder, ignore_errors=True)
        return removed, others_alive

    @contextlib.contextmanager
    def _sweep_turn(self) -> Iterator[None]:
        fd = os.open(self.tmp, os.O_RDONLY)  # flock works on a folder too
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held for milliseconds: a start-up's sweep
            yield
        finally:
            os.close(fd)

    def usable(self) -> tuple[bool, str]:
        """Whether uploads can be received here now (for /health)."""
        try:
            probe = self.scratch(".health")
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            # strerror, not the exception: that names the server's paths
            return False, f"the upload folder is not writable: {exc.strerror or 'error'}"
        return True, "writable"


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime <= cutoff
    except FileNotFoundError:
        return False


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"
