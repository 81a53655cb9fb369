"""Image bytes on disk, named by their sha256, written so a crash never leaves
a half-written image where the database expects a whole one.

Layout under UPLOAD_DIR:

    images/ab/ab12...ef     the bytes, named by their sha256 (identical uploads share one)
    thumbs/ab12...ef-256.jpg  thumbnails, made on first request
    tmp/                      uploads while they stream in; emptied at start-up

A blob and the database rows pointing at it change together under the key's
lock: an upload "stores the blob, then inserts its row", a delete "deletes the
row, then removes the blob if no row is left". Holding the lock across both makes
those two sequences exclusive, so neither can see the other half done. The locks
live in this process, so one UPLOAD_DIR is served by one server process.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from errors import EmptyUpload, TooLarge

CHUNK = 1024 * 1024
_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}$")
_LOCK_STRIPES = 64


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

    def prepare(self) -> None:
        for folder in (self.images, self.thumbs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

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
        path = self.tmp / f"{uuid.uuid4().hex}.part"
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
        """Remove what a crash left behind: partial uploads, and images that no
        row points at (stored just before a crash kept their row from being
        written). Returns how many files were removed."""
        removed = 0
        cutoff = time.time() - grace_seconds
        for part in self.tmp.glob("*.part"):
            if part.stat().st_mtime <= cutoff:
                part.unlink(missing_ok=True)
                removed += 1
        for blob in self.images.glob("??/*"):
            key = f"{blob.parent.name}/{blob.name}"
            if key not in known_keys and blob.stat().st_mtime <= cutoff:
                self.discard(key)
                removed += 1
        return removed

    def usable(self) -> tuple[bool, str]:
        """Whether images can be written here now (for /health)."""
        probe = self.tmp / f".health-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            return False, f"{self.root} is not writable: {exc.strerror or exc}"
        return True, "writable"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"
