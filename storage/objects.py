"""Where image and thumbnail bytes live: one small interface, two places.

`LocalObjects` (storage/local.py) is a folder, today's UPLOAD_DIR layout and the
default; `S3Objects` (storage/s3.py) is an S3-compatible bucket (AWS, MinIO,
SeaweedFS, Ceph, R2), chosen with STORAGE_URL=s3://BUCKET/PREFIX.

Keys are the same in both, and every key names its image's sha256:

    images/ab/ab12...ef        the bytes of one image (identical uploads share it)
    thumbs/ab12...ef-256.jpg   a thumbnail of it, made on first request

A store knows nothing of the database: which keys may be written or removed,
and when, is decided by the protocol in resolvers/blobs.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from config import Settings

IMAGES = "images/"
THUMBS = "thumbs/"
_KEY = re.compile(
    r"^(?:images/[0-9a-f]{2}/(?P<image>[0-9a-f]{64})|thumbs/(?P<thumb>[0-9a-f]{64})-\d+\.jpg)$"
)
# Bytes per chunk when streaming an object out.
CHUNK = 256 * 1024


def image_key(sha256: str) -> str:
    return f"{IMAGES}{sha256[:2]}/{sha256}"


def thumbnail_key(sha256: str, size: int) -> str:
    return f"{THUMBS}{sha256}-{size}.jpg"


def thumbnails_prefix(sha256: str) -> str:
    return f"{THUMBS}{sha256}-"


def sha_of(key: str) -> str | None:
    """The sha256 a key belongs to; None for anything that is not ours."""
    found = _KEY.match(key)
    if found is None:
        return None
    return found["image"] or found["thumb"]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    modified: datetime  # aware, UTC


class OpenObject(Protocol):
    """An object opened for reading: its size is known, and its bytes stay
    readable until it is closed even if the object is deleted meanwhile (a
    folder keeps the open file; S3 has already begun sending the body)."""

    size: int
    # The open file, when the object is one on this machine (the folder): then
    # it can be served with ranges and validators. None: stream `chunks()`.
    handle: BinaryIO | None

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class ObjectStore(Protocol):
    description: str  # for logs and /health, never with secrets

    async def start(self) -> None:
        """Open connections, create folders; called once at start-up."""

    async def put(self, key: str, source: Path) -> None:
        """Store the file at `source` under `key`, replacing what is there.
        Atomic: readers see the old object, the new one, or none, never a part.
        The caller still owns `source` afterwards."""

    async def open(self, key: str) -> OpenObject | None:
        """The object for streaming, or None when there is none."""

    def local_file(self, key: str) -> AbstractAsyncContextManager[Path | None]:
        """A path to the object's bytes on this machine while the context is open
        (a folder's own file; a temporary download from S3). None: no object."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; nothing happens when there is none."""

    def scan(self, prefix: str) -> AsyncIterator[list[ObjectInfo]]:
        """Every key under `prefix`, with when it was last written, in batches."""

    async def usable(self) -> tuple[bool, str]:
        """Whether objects can be written and read now (for /health)."""


def create_object_store(settings: Settings, scratch: Callable[[str], Path]) -> ObjectStore:
    """The store STORAGE_URL names; `scratch` gives this process's temporary
    paths (storage/blobs.py), so a crash's leftovers are swept."""
    if settings.storage_url is None:
        from storage.local import LocalObjects

        return LocalObjects(settings.upload_dir, scratch=scratch)
    from storage.s3 import S3Objects  # only S3 deployments load the client

    return S3Objects(settings, scratch=scratch)
