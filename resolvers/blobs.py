"""How image bytes and file rows change together, safely across processes.

Images are objects named by their sha256 (storage/objects.py); identical
uploads share one. Any number of servers may upload and delete the same bytes
at once, so locks in one process prove nothing: correctness comes from the
database, from one `blobs` row per sha256 (db/blobs.py) that every change to
those bytes' files locks first (SELECT ... FOR UPDATE on PostgreSQL; on SQLite
the transaction's first statement takes the single write lock). Two invariants
hold whatever the interleaving:

  I1  no file row ever points to a missing object;
  I2  an object no row references is removed, at the latest one grace period
      (ORPHAN_GRACE_SECONDS) plus one sweep interval after it was last needed.

The row is `live` (the object is there, or is being put by an upload holding a
claim) or `deleting` (the object is being removed). A `deleting` row never goes
back to `live`: it is dropped once its object is gone, and a later upload makes
a new row with a new `epoch`.

Upload, of a file already checked in a local temporary file:
  U1  lock the row (made live if absent). If it is `deleting`, wait until that
      delete is over and start again. Else claim it: pending += 1, touched_at =
      now, and remember the epoch. Commit.
  U2  put the object, then its preview (idempotent: the same key always holds
      the same bytes).
  U3  lock the row. If it is still `live` with the same epoch, no delete has run
      since U1 (a delete marks the row `deleting` before it removes anything,
      and a row only gets a new epoch after its delete has finished): insert the
      file row and release the claim in this same transaction. Otherwise the
      object may be gone: roll back and start again from U1, which puts again.
  If the put or the commit fails, the claim is released (and the object removed
  if nothing else uses it); a crash leaves a claim that expires (see sweep).

Delete, of some file rows:
  D1  lock the rows of their bytes (sorted, so two deletes cannot deadlock),
      delete the file rows, and for each sha256 left with no file and no live
      claim, mark the row `deleting` (touched_at = now). Commit.
  D2  remove the object, its thumbnails and its preview.
  D3  drop the row, if it is still the `deleting` row of D1's epoch.
  Since an upload commits its file row only while the row is `live` in the
  epoch it put the object in (U3), and D1 marks before D2 removes, a file row
  can never be committed for an object D2 removes: I1. An upload that claimed
  before D1 keeps the object (D1 leaves claimed rows alone), and its claim
  either turns into a file row or expires into the sweep: I2.

Sweep (every ORPHAN_SWEEP_SECONDS on every server, and at start-up):
  S1  rows untouched for a grace period that are `deleting` (the deleter died
      between D1 and D3) or `live` with no file (a crashed upload's claim):
      lock, check again, and finish the delete as in D1-D3.
  S2  objects older than a grace period whose sha256 has no row (a crash
      between a put and its commit, a thumbnail made while its image was being
      deleted, a server running older code): insert a `deleting` row for them
      (only if none exists, so never under a running upload) and delete as in
      D2-D3.

The one timing assumption: a delete request to the store that has not finished
within the grace period never lands later (the S3 client gives deletes at most
half of it), so a `deleting` row older than that can be finished by anyone and
its bytes uploaded again. Thumbnails are made by readers (single-flight per
process; two servers making the same one write the same bytes) and never need
a row: a thumbnail outliving its image is an S2 orphan. A preview written for
an image uploaded before previews existed is made the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from sqlmodel.ext.asyncio.session import AsyncSession

from db import blobs as db_blobs
from db import files as db_files
from db import models as db_models
from db.models import BlobState, FileRow
from db.types import utcnow
from errors import AppError, Unavailable
from storage.blobs import TempBlob
from storage.objects import (
    IMAGES,
    PREVIEWS,
    THUMBS,
    image_key,
    preview_key,
    sha_of,
    thumbnail_key,
)

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("cars.storage")

# Attempts of U1-U3 before an upload gives up: each failed one means a delete of
# the same bytes ran meanwhile, which a client racing itself can cause, but not forever.
_ATTEMPTS = 20
_WAIT = 0.02  # seconds, doubled up to _MAX_WAIT while a delete finishes
_MAX_WAIT = 0.5
_SWEEP_BATCH = 500


async def store_file(
    svc: Services,
    temp: TempBlob,
    insert: Callable[[AsyncSession], Awaitable[FileRow]],
    *,
    beside: Sequence[tuple[str, Path]] = (),
) -> FileRow:
    """Put the bytes of `temp` in the object store and commit the file row that
    `insert` adds, as U1-U3 above. `beside`: objects derived from the image (its
    preview, by key and local file), put in U2 under the same claim, so a delete
    that removes the image removes them too. The temporary files are the caller's."""
    sha = temp.sha256
    wait = _WAIT
    for _ in range(_ATTEMPTS):
        epoch = await _claim(svc, sha)
        if epoch is None:
            await anyio.sleep(wait)
            wait = min(wait * 2, _MAX_WAIT)
            continue
        try:
            await _put_all(svc, [(image_key(sha), temp.path), *beside])
            row = await _commit(svc, sha, epoch, insert)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _release(svc, sha, epoch)
            raise
        if row is not None:
            return row
    raise Unavailable("These bytes are being deleted and uploaded too often right now; try again.")


async def _put_all(svc: Services, objects: Sequence[tuple[str, Path]]) -> None:
    """U2: the objects put side by side (each is a link and a folder fsync
    locally, a request to S3), all of them finished before the first failure,
    if any, is raised, so nothing lands after the claim is released."""
    outcomes = await asyncio.gather(
        *(svc.objects.put(key, path) for key, path in objects), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def _claim(svc: Services, sha: str) -> str | None:
    """U1. The epoch claimed, or None while a delete of these bytes runs."""
    reap: str | None = None
    async with svc.session(write=True) as session:
        blob = await db_blobs.lock_blob(session, sha256=sha)
        if blob.state is BlobState.DELETING:
            if blob.touched_at < _cutoff(svc):
                reap = blob.epoch  # its deleter died: finish for it, below
            await session.rollback()
        else:
            blob.pending += 1
            blob.touched_at = utcnow()
            session.add(blob)
            epoch = blob.epoch
            await session.commit()
            return epoch
    if reap is not None:
        await _remove(svc, sha, reap)
    return None


async def _commit(
    svc: Services, sha: str, epoch: str, insert: Callable[[AsyncSession], Awaitable[FileRow]]
) -> FileRow | None:
    """U3. The file row, or None when the claim was lost to a delete."""
    async with svc.session(write=True) as session:
        blob = await db_blobs.lock_existing(session, sha256=sha)
        if blob is None or blob.epoch != epoch or blob.state is not BlobState.LIVE:
            await session.rollback()
            return None
        row = await insert(session)
        blob.pending = max(0, blob.pending - 1)
        session.add(blob)
        await session.commit()
        return row


async def _release(svc: Services, sha: str, epoch: str) -> None:
    """Give a claim back after a failed upload; delete the bytes if unused."""
    try:
        async with svc.session(write=True) as session:
            blob = await db_blobs.lock_existing(session, sha256=sha)
            if blob is None or blob.epoch != epoch or blob.state is not BlobState.LIVE:
                return
            blob.pending = max(0, blob.pending - 1)
            doomed = await _mark_if_unused(svc, session, blob)
            session.add(blob)
            await session.commit()
    except AppError:
        return  # the database is down: the claim expires and the sweep (S1) cleans up
    if doomed:
        await _remove(svc, sha, epoch)


async def delete_files(svc: Services, ids: Sequence[int]) -> dict[int, FileRow]:
    """Delete these file rows (D1) and then the bytes no file uses any more
    (D2, D3). Returns the rows deleted, by id."""
    async with svc.session() as session:  # which bytes to lock, read outside the lock
        shas = sorted({row.sha256 for row in await db_files.files_by_ids(session, ids=ids)})
    if not shas:
        return {}
    doomed: list[tuple[str, str]] = []
    async with svc.session(write=True) as session:
        blobs = [await db_blobs.lock_blob(session, sha256=sha) for sha in shas]
        # Read again under the locks: another delete may have taken some meanwhile.
        rows = {r.id: r for r in await db_files.files_by_ids(session, ids=ids) if r.id is not None}
        await db_files.delete_files(session, ids=list(rows))
        for blob in blobs:
            if await _mark_if_unused(svc, session, blob):
                doomed.append((blob.sha256, blob.epoch))
        await session.commit()
    for sha, epoch in doomed:
        await _remove(svc, sha, epoch)
    return rows


async def _mark_if_unused(
    svc: Services,
    session: AsyncSession,
    blob: db_models.BlobRow,
    *,
    cutoff: datetime | None = None,
) -> bool:
    """D1 for one locked live row: mark it `deleting` when no file uses it and no
    upload holds a live claim on it (one made since `cutoff`)."""
    if blob.state is not BlobState.LIVE:
        return False
    claimed = blob.pending > 0 and blob.touched_at >= (cutoff or _cutoff(svc))
    if claimed or await db_blobs.count_files(session, sha256=blob.sha256):
        return False
    blob.state = BlobState.DELETING
    blob.touched_at = utcnow()
    session.add(blob)
    return True


async def _remove(svc: Services, sha: str, epoch: str) -> None:
    """D2 and D3. A failure leaves the row `deleting`, for the sweep (S1)."""
    try:
        await svc.objects.delete(image_key(sha))
        # Thumbnails of another size (THUMBNAIL_SIZE changed) are left to S2.
        await svc.objects.delete(thumbnail_key(sha, svc.settings.thumbnail_size))
        await svc.objects.delete(preview_key(sha))
        async with svc.session(write=True) as session:
            await db_blobs.remove_deleted(session, sha256=sha, epoch=epoch)
            await session.commit()
    except Exception as exc:  # the store or the database failed: S1 finishes later
        log.warning("could not finish deleting %s yet: %s", sha, exc)


async def sweep(svc: Services, *, grace_seconds: float | None = None) -> int:
    """S1 and S2. Returns how many sha256s were removed. `grace_seconds` (default
    ORPHAN_GRACE_SECONDS) is 0 only at a start-up that knows no other process
    can be between its U1 and U3 (services.py)."""
    removed = 0
    cutoff = _cutoff(svc, grace_seconds)
    async with svc.session() as session:
        stale = await db_blobs.stale_blobs(session, before=cutoff, limit=_SWEEP_BATCH)
    for sha in stale:
        epoch: str | None = None
        async with svc.session(write=True) as session:
            blob = await db_blobs.lock_existing(session, sha256=sha)
            if (
                blob is not None
                and blob.touched_at < cutoff
                and (
                    blob.state is BlobState.DELETING
                    or await _mark_if_unused(svc, session, blob, cutoff=cutoff)
                )
            ):
                epoch = blob.epoch
            await session.commit()
        if epoch is not None:
            await _remove(svc, sha, epoch)
            removed += 1
    for prefix in (IMAGES, THUMBS, PREVIEWS):
        async for batch in svc.objects.scan(prefix):
            old = {
                owner
                for info in batch
                if info.modified < cutoff and (owner := sha_of(info.key)) is not None
            }
            async with svc.session() as session:
                orphans = await db_blobs.without_rows(session, shas=old)
            for sha in sorted(orphans):
                async with svc.session(write=True) as session:
                    tombstone = await db_blobs.add_tombstone(session, sha256=sha)
                    await session.commit()
                if tombstone is not None:
                    await _remove(svc, sha, tombstone)
                    removed += 1
    return removed


def _cutoff(svc: Services, grace_seconds: float | None = None) -> datetime:
    if grace_seconds is None:
        grace_seconds = svc.settings.orphan_grace_seconds
    return utcnow() - timedelta(seconds=grace_seconds)
