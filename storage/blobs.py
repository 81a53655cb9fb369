"""Uploads as they come in: each is copied to a temporary file in UPLOAD_DIR/tmp,
hashed and size-checked, so it can be checked as an image before anything is
stored. Where the bytes go next is the object store's business (storage/objects.py,
by the protocol in resolvers/blobs.py); UPLOAD_DIR/tmp stays on this machine
whatever the store, and leftovers in it are swept at start-up.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from errors import EmptyUpload, TooLarge

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class TempBlob:
    path: Path
    size: int
    sha256: str


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def prepare(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)

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

    def sweep(self, *, grace_seconds: float) -> int:
        """Remove partial uploads and downloads a crash left behind. Returns how
        many files were removed."""
        removed = 0
        cutoff = time.time() - grace_seconds
        for part in self.tmp.glob("*.part"):
            try:
                if part.stat().st_mtime <= cutoff:
                    part.unlink(missing_ok=True)
                    removed += 1
            except FileNotFoundError:
                continue  # finished while we looked
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


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"
