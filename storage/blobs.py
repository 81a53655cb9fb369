"""Image bytes on disk, named by their sha256, written so a crash never leaves
a half-written image where the database expects a whole one.

Layout under UPLOAD_DIR:

    images/ab/ab12...ef     the bytes, named by their sha256 (identical uploads share one)
    thumbs/ab12...ef-256.jpg  thumbnails, made on first request
    tmp/<pid>-<id>/           one per server process: its uploads while they
                              stream in (*.part), its half-made thumbnails, and
                              `lock`, which the process holds (flock) for life
                              (tmp/ itself is flocked while a process claims its
                              folder or sweeps)

A blob and the database rows pointing at it change together under the key's
lock: an upload "stores the blob, then inserts its row", a delete "deletes the
row, then removes the blob if no row is left". Holding the lock across both makes
those two sequences exclusive, so neither can see the other half done. The locks
live in this process, so one UPLOAD_DIR is served by one server process.

What a crash leaves behind is found at the next start by the lock files, not by
age (`sweep`): a folder whose lock nobody holds belonged to a dead process, and
goes at once, whatever its age; so do images with no row, unless another live
process shares UPLOAD_DIR (a restart that overlaps the old server), when they
must also be older than a grace period, since they may be its uploads in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from errors import EmptyUpload, TooLarge

CHUNK = 1024 * 1024
_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}$")
_LOCK_STRIPES = 64
_OWNER_LOCK = "lock"


@dataclass(frozen=True)
class TempBlob:
    path: Path
    size: int
    sha256: str


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.images = root / "images"
        self.thumbs = root / "thumbs"
        self.tmp = root / "tmp"
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]
        self._work: Path | None = None  # this process's folder under tmp/
        self._owner_fd: int | None = None  # holds its lock while open

    @property
    def work(self) -> Path:
        if self._work is None:
            raise RuntimeError("BlobStore.prepare() has not run")
        return self._work

    def prepare(self) -> None:
        """Make the folders and claim this process's own folder under tmp/."""
        for folder in (self.images, self.thumbs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
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
        """A fresh path in this process's folder (same file system as images/ and
        thumbs/, so a finished file is moved into place atomically)."""
        return self.work / f"{uuid.uuid4().hex}{suffix}"

    @staticmethod
    def key_for(sha256: str) -> str:
        return f"{sha256[:2]}/{sha256}"

    def path(self, key: str) -> Path:
        if not _KEY.match(key):  # keys come from our own rows; never trust a path blindly
            raise ValueError(f"not a blob key: {key!r}")
        return self.images / key

    def thumbnail_path(self, key: str, size: int) -> Path:
        return self.thumbs / f"{self.path(key).name}-{size}.jpg"

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks[int(key[-8:], 16) % _LOCK_STRIPES]

    def receive(self, source: BinaryIO, *, limit: int) -> TempBlob:
        """Copy an upload into tmp/, hashing it, and refuse it past `limit` bytes."""
        path = self.scratch(".part")
        digest = hashlib.sha256()
        size = 0
        try:
            source.seek(0)
            with path.open("wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"The file is larger than the {_mb(limit)} limit.")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise EmptyUpload("The file is empty.")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return TempBlob(path=path, size=size, sha256=digest.hexdigest())

    def commit(self, blob: TempBlob) -> str:
        """Move a received file to its place and return its key. The rename is
        atomic and the folder is fsynced, so after a crash the image is either
        whole or absent."""
        key = self.key_for(blob.sha256)
        dest = self.path(key)
        if dest.exists():  # the same bytes are already stored: share them
            blob.path.unlink(missing_ok=True)
            return key
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(blob.path, dest)
        _fsync_dir(dest.parent)
        return key

    def discard(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
        for thumb in self.thumbs.glob(f"{self.path(key).name}-*.jpg"):
            thumb.unlink(missing_ok=True)

    def sweep(self, known_keys: set[str], *, grace_seconds: float) -> int:
        """Remove what a crash left behind: the folders of processes that are
        gone (their partial uploads and thumbnails), and images that no row
        points at (stored just before a crash kept their row from being
        written). `known_keys` must be read before this runs. Returns how many
        files were removed."""
        with self._sweep_turn():
            removed, others_alive = self._sweep_folders()
            # With another server live on this folder, an image without a row
            # may be its upload between "store the blob" and "insert its row".
            cutoff = time.time() - grace_seconds if others_alive else float("inf")
            for leftover in (*self.tmp.glob("*.part"), *self.thumbs.glob(".*.tmp")):
                # from servers before per-process folders
                if _older(leftover, cutoff):
                    leftover.unlink(missing_ok=True)
                    removed += 1
            for blob in self.images.glob("??/*"):
                key = f"{blob.parent.name}/{blob.name}"
                if _KEY.match(key) and key not in known_keys and _older(blob, cutoff):
                    self.discard(key)
                    removed += 1
        return removed

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
        """Whether images can be written here now (for /health)."""
        try:
            probe = self.scratch(".health")
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            # strerror, not the exception: that names the server's paths
            return False, f"the image folder is not writable: {exc.strerror or 'error'}"
        return True, "writable"


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime <= cutoff
    except FileNotFoundError:
        return False


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"
