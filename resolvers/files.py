"""Reading, deleting and resetting files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from db import files as db_files
from db import listing
from db.models import FileRow, FileStatus, PredictionRow
from db.predictions import predictions_for_files
from errors import AppError, InvalidInput, NotFound, Unavailable
from events import FileEventKind
from resolvers import blobs
from resolvers.ids import MAX_ID, decode_cursor, parse_file_id
from resolvers.text import check_text
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
# Pages of the listing (db/listing.PAGE ids each) read in one statement: a few
# megabytes at most.
PAGES_PER_READ = 4
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
    check_text("search", search, longest=MAX_SEARCH_LENGTH)
    check_text("make", make)


# Renders one file of the listing: a tuple in db/listing.FILE_FIELDS order and
# its predictions in PREDICTION_FIELDS order, to the JSON of one element.
Render = Callable[[tuple[Any, ...], Sequence[tuple[Any, ...]]], bytes]


async def listing_pages(
    svc: Services, render: Render, shape: str
) -> list[bytes] | AsyncIterator[bytes]:
    """Every file of the listing, oldest first, as pages of its JSON elements
    joined by commas: all at once when one read found every page kept (a
    collection of a few thousand files that did not change since it was last
    listed), else a page of ids at a time (db/listing.py), each page empty when
    none of its files is left. A page is read as it was kept when none of its files changed since;
    else it is put together from the elements kept for the files that did not
    change, and `render` for those that did, and kept for the next time. Each
    read is a short session of its own, so that no connection is held while a
    client reads. The first read happens here, so that a database outage is an
    error before the answer starts rather than a cut-off answer."""
    found, next_id = await _read(svc, 1, shape)
    if next_id is None and all(page.body is not None for page in found):
        return [page.body for page in found if page.body is not None]
    return _pages(svc, render, shape, found, next_id)


async def _read(svc: Services, first_id: int, shape: str) -> tuple[list[listing.Page], int | None]:
    async with svc.session() as session:
        return await listing.pages(session, first_id=first_id, count=PAGES_PER_READ, shape=shape)


async def _pages(
    svc: Services, render: Render, shape: str, found: list[listing.Page], next_id: int | None
) -> AsyncIterator[bytes]:
    while True:
        while found:  # each page let go once sent, not held through the next read
            page = found.pop(0)
            if page.body is None:
                yield await _put_together(svc, page, render, shape)
            else:
                yield page.body
        if next_id is None:
            return
        found, next_id = await _read(svc, listing.page_start(next_id), shape)


async def _put_together(svc: Services, page: listing.Page, render: Render, shape: str) -> bytes:
    """A page from its files' kept elements, rendering those that changed, and
    kept with them for the next time."""
    rendered: list[tuple[int, int, bytes]] = []
    async with svc.session() as session:
        found = await listing.kept_files(
            session, first_id=page.first_id, last_id=page.last_id, shape=shape
        )
        stale = [file_id for file_id, body in found if body is None]
        if stale:
            rows, predictions = await listing.files_to_render(session, ids=stale)
            rendered = [
                (fields[0], version, render(fields, predictions.get(fields[0], ())))
                for version, fields in rows
            ]
            del rows, predictions  # memory: not held while the page is kept
    fresh = {file_id: body for file_id, _, body in rendered}
    # A stale file missing from `fresh` was deleted meanwhile: left out.
    body = b",".join(kept or fresh[i] for i, kept in found if kept or i in fresh)
    del found, fresh
    await _keep(svc, rendered, page, body, shape)
    return body


async def _keep(
    svc: Services,
    rendered: list[tuple[int, int, bytes]],
    page: listing.Page,
    body: bytes,
    shape: str,
) -> None:
    """Keep what was rendered and put together, when that makes no writer
    wait: the listing is a read, and what is not kept now is only put together
    again next time."""
    if svc.write_turn.locked():
        return
    try:
        async with svc.session(write=True) as session:
            if await listing.keep(session, rendered=rendered, page=page, body=body, shape=shape):
                await session.commit()
    except Unavailable:
        pass  # logged by svc.session; the listing itself was already read


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
