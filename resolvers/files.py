"""Reading, deleting and resetting files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from db import files as db_files
from db import listing
from db.files import FileRow, FileStatus
from db.predictions import PredictionRow, predictions_for_files
from errors import AppError, InvalidInput, NotFound
from events import FileEventKind
from resolvers import blobs
from resolvers.ids import MAX_ID, decode_cursor, parse_file_id
from services import Services
from storage.decode_pool import decoded_bytes
from storage.objects import OpenObject, image_key, thumbnail_key
from storage.thumbnails import make_thumbnail

MAX_PAGE_SIZE = 100
# Longest `search` accepted. File names are cut to at most MAX_FILENAME_LENGTH
# characters (200 by default), so a longer search could match nothing; and a
# pattern of 50,000 bytes or more is one SQLite refuses outright ("LIKE or GLOB
# pattern too complex"), which must be the client's error, not an outage.
MAX_SEARCH_LENGTH = 200
# The whole listing is read in slices of this many files: memory stays bounded.
LISTING_SLICE = 2000
# Deletes work through ids in slices, so "delete everything" never builds one
# enormous statement or holds one long transaction.
DELETE_SLICE = 500


@dataclass(frozen=True)
class FilePage:
    rows: Sequence[FileRow]
    has_next_page: bool
    has_previous_page: bool


async def get_file(svc: Services, file_id: str | int) -> FileRow:
    number = parse_file_id(file_id)
    async with svc.session() as session:
        row = await db_files.get_file(session, file_id=number)
    if row is None:
        raise NotFound(f"No file with id {number}.")
    return row


async def list_files(
    svc: Services,
    *,
    first: int,
    after: str | None = None,
    status: FileStatus | None = None,
    search: str | None = None,
    make: str | None = None,
    newest_first: bool = True,
) -> FilePage:
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise InvalidInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}.")
    after_id = decode_cursor(after) if after else None
    _check_filters(search, make)
    async with svc.session() as session:
        rows = await db_files.list_files(
            session,
            status=status,
            search=search,
            make=make,
            newest_first=newest_first,
            after_id=after_id,
            limit=first + 1,  # one more than asked tells whether a next page exists
        )
    return FilePage(
        rows=rows[:first], has_next_page=len(rows) > first, has_previous_page=after_id is not None
    )


async def count_files(
    svc: Services,
    *,
    status: FileStatus | None = None,
    search: str | None = None,
    make: str | None = None,
) -> int:
    _check_filters(search, make)
    async with svc.session() as session:
        return await db_files.count_files(session, status=status, search=search, make=make)


def _check_filters(search: str | None, make: str | None) -> None:
    if search is not None and len(search) > MAX_SEARCH_LENGTH:
        raise InvalidInput(
            f"`search` is at most {MAX_SEARCH_LENGTH} characters long; got {len(search):,}."
        )
    # PostgreSQL text cannot hold NUL, and refuses a query that carries one.
    if "\x00" in (search or "") or "\x00" in (make or ""):
        raise InvalidInput("`search` and `make` cannot contain NUL characters.")


FileSlice = tuple[list[tuple[Any, ...]], dict[int, list[tuple[Any, ...]]]]


async def file_slices(svc: Services) -> AsyncIterator[FileSlice]:
    """Every file with its predictions, oldest first, LISTING_SLICE files at a
    time (db/listing.py lays them out), each slice read in its own short session
    so that no connection is held while a client reads."""
    after_id = 0
    while True:
        async with svc.session() as session:
            found = await listing.file_slice(session, after_id=after_id, limit=LISTING_SLICE)
        if not found[0]:
            return
        yield found
        after_id = found[0][-1][0]


async def rows_by_ids(svc: Services, file_ids: Sequence[int]) -> dict[int, FileRow]:
    wanted = [i for i in file_ids if 1 <= i <= MAX_ID]
    if not wanted:
        return {}
    async with svc.session() as session:
        rows = await db_files.files_by_ids(session, ids=wanted)
    return {row.id: row for row in rows if row.id is not None}


async def predictions(svc: Services, file_ids: Sequence[int]) -> dict[int, list[PredictionRow]]:
    async with svc.session() as session:
        return await predictions_for_files(session, file_ids=file_ids)


async def delete_file(svc: Services, file_id: str | int) -> FileRow:
    outcome = (await delete_files(svc, [file_id]))[0]
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


async def delete_files(svc: Services, file_ids: Sequence[str | int]) -> list[FileRow | AppError]:
    """Delete each file and, once no other file shares it, its image. One outcome
    per id, in order: a bad id does not stop the others."""
    numbers: list[int | AppError] = []
    for value in file_ids:
        try:
            numbers.append(parse_file_id(value))
        except AppError as exc:
            numbers.append(exc)
    wanted = [n for n in numbers if isinstance(n, int)]
    found: dict[int, FileRow] = {}
    for start in range(0, len(wanted), DELETE_SLICE):
        found.update(await _delete_slice(svc, wanted[start : start + DELETE_SLICE]))
    outcomes: list[FileRow | AppError] = []
    for n in numbers:
        if isinstance(n, AppError):
            outcomes.append(n)
        elif n in found:
            outcomes.append(found[n])
        else:
            outcomes.append(NotFound(f"No file with id {n}."))
    return outcomes


async def delete_all_files(svc: Services) -> int:
    deleted = 0
    while True:
        async with svc.session() as session:
            page = await db_files.list_files(session, limit=DELETE_SLICE)
        if not page:
            return deleted
        deleted += len(await _delete_slice(svc, [row.id for row in page if row.id is not None]))


async def _delete_slice(svc: Services, ids: Sequence[int]) -> dict[int, FileRow]:
    rows = await blobs.delete_files(svc, ids)
    for row in rows.values():
        svc.events.publish(FileEventKind.DELETED, row)
    return rows


async def reprocess_file(svc: Services, file_id: str | int) -> FileRow:
    """Forget a file's results and queue it for recognition again."""
    row = await get_file(svc, file_id)
    async with svc.session(write=True) as session:
        row = await db_files.reset_to_pending(session, row=row)
        await session.commit()
    svc.events.publish(FileEventKind.PENDING, row)
    return row


def check_ids(file_ids: Sequence[object], *, limit: int) -> None:
    if len(file_ids) > limit:
        raise InvalidInput(f"At most {limit} ids per request; got {len(file_ids)}.")


async def open_image(svc: Services, file_id: str | int) -> tuple[FileRow, OpenObject]:
    """The file's row and its image, opened: what is open stays readable to the
    end even if the file is deleted meanwhile (a folder keeps the open file; S3
    has begun sending the body), so a download racing a delete gets the whole
    image or a 404, never a 500 or a short body."""
    row = await get_file(svc, file_id)
    return row, await _open(svc, image_key(row.sha256), row)


async def open_thumbnail(svc: Services, file_id: str | int) -> OpenObject:
    """The file's thumbnail, opened; made on first request and stored beside the
    image. Requests for one not made yet wait for a single making of it in this
    process; two servers may both make it, and then write the same bytes."""
    row = await get_file(svc, file_id)
    key = thumbnail_key(row.sha256, svc.settings.thumbnail_size)
    opened = await svc.objects.open(key)
    if opened is not None:
        return opened
    await svc.thumbnails.run(key, lambda: _make_thumbnail(svc, row, key))
    return await _open(svc, key, row)


async def _make_thumbnail(svc: Services, row: FileRow, key: str) -> None:
    size = svc.settings.thumbnail_size
    scratch = svc.blobs.scratch(".jpg")
    try:
        async with svc.objects.local_file(image_key(row.sha256)) as source:
            if source is None:
                raise _gone(row)
            with await _open_path(source, row) as image:
                await svc.decoder.run(
                    lambda: make_thumbnail(image, scratch, size=size),
                    cost=decoded_bytes(row.width, row.height, fit=size * 2),
                )
        await svc.objects.put(key, scratch)
    finally:
        await anyio.Path(scratch).unlink(missing_ok=True)
    # Deleted while its thumbnail was being made: the delete may have removed
    # thumbnails before this one was in place, so this one goes too (else the
    # sweep finds it, as an orphan, after the grace period).
    if not await svc.objects.exists(image_key(row.sha256)):
        await svc.objects.delete(key)


async def _open(svc: Services, key: str, row: FileRow) -> OpenObject:
    opened = await svc.objects.open(key)
    if opened is None:
        raise _gone(row)
    return opened


async def _open_path(path: Path, row: FileRow) -> BinaryIO:
    try:
        return await anyio.to_thread.run_sync(lambda: path.open("rb"))
    except FileNotFoundError:
        raise _gone(row) from None


def _gone(row: FileRow) -> NotFound:
    # The row was there a moment ago: most likely the file was deleted since.
    return NotFound(f"No image for file {row.id}: it was deleted, or is missing.")
