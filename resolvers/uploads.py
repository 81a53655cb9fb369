"""Taking uploads in: the same checks for GraphQL and REST.

Each file is copied out of the request into tmp/ (hashed, size-checked), checked
as an image, moved into place, and only then given its database row. Any refusal
along the way removes what was written, so a refused upload leaves nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import BinaryIO, Protocol

import anyio

from db import files as db_files
from db.files import FileRow
from errors import EmptyUpload, InvalidUpload, TooManyFiles, UnsupportedType
from events import FileEventKind
from services import Services
from storage.blobs import TempBlob
from storage.decode_pool import decoded_bytes
from storage.filenames import clean_filename, extension
from storage.images import ImageInfo, check_image, read_header

log = logging.getLogger("cars.uploads")


class IncomingFile(Protocol):
    """An uploaded file as the HTTP layer hands it over (Starlette's UploadFile)."""

    @property
    def filename(self) -> str | None: ...

    @property
    def file(self) -> BinaryIO: ...


async def upload_file(svc: Services, upload: IncomingFile) -> FileRow:
    outcome = (await upload_files(svc, [upload]))[0]
    if isinstance(outcome, InvalidUpload):
        raise outcome
    return outcome


async def upload_files(
    svc: Services, uploads: Sequence[IncomingFile]
) -> list[FileRow | InvalidUpload]:
    """Store each upload; one outcome per file, in order. A bad file is refused
    on its own and the others go on."""
    limit = svc.settings.max_files_per_request
    if not uploads:
        raise EmptyUpload("No file was sent.")
    if len(uploads) > limit:
        raise TooManyFiles(f"At most {limit} files per request; got {len(uploads)}.")
    outcomes: list[FileRow | InvalidUpload] = []
    # One at a time: a request's files share its CPU and disk budget; parallel
    # requests still run side by side.
    for upload in uploads:
        try:
            outcomes.append(await _store(svc, upload))
        except InvalidUpload as exc:
            outcomes.append(exc)
    return outcomes


async def _store(svc: Services, upload: IncomingFile) -> FileRow:
    settings = svc.settings
    name = clean_filename(upload.filename, max_length=settings.max_filename_length)
    blob = await anyio.to_thread.run_sync(
        lambda: svc.blobs.receive(upload.file, limit=settings.max_file_size)
    )
    try:
        # The content decides the type; the name must agree that it is an image
        # we take, so a file keeps an extension that opens it as what it is.
        header = await anyio.to_thread.run_sync(
            lambda: read_header(
                blob.path,
                allowed_types=settings.allowed_types,
                max_pixels=settings.max_image_pixels,
            )
        )
        # Decoding holds every pixel (36 MB for 12 megapixels): the server's one
        # decode pool bounds the pixels held at once by every decode together,
        # so memory follows that bound, not the number of clients uploading.
        info = await svc.decoder.run(
            lambda: check_image(blob.path, header, max_pixels=settings.max_image_pixels),
            cost=decoded_bytes(header.width, header.height),
        )
        if extension(name) not in settings.allowed_extensions:
            raise UnsupportedType(
                f"{name or 'The file'!s} must have one of the extensions "
                f"{', '.join(settings.allowed_extensions)}."
            )
    except BaseException:
        blob.path.unlink(missing_ok=True)
        raise
    return await _keep(svc, name, blob, info)


async def _keep(svc: Services, name: str, blob: TempBlob, info: ImageInfo) -> FileRow:
    key = svc.blobs.key_for(blob.sha256)
    async with svc.blobs.lock(key):
        shared = await anyio.to_thread.run_sync(svc.blobs.commit, blob)
        assert shared == key
        try:
            async with svc.session(write=True) as session:
                row = await db_files.insert_file(
                    session,
                    filename=name,
                    stored_key=key,
                    sha256=blob.sha256,
                    mime_type=info.mime_type,
                    size=blob.size,
                    width=info.width,
                    height=info.height,
                )
                await session.commit()
        except BaseException:
            # The row was not written: drop the image unless another file uses it.
            await _discard_if_unused(svc, key)
            raise
    log.info("stored file %s (%s, %d bytes)", row.id, info.mime_type, blob.size)
    svc.events.publish(FileEventKind.UPLOADED, row)
    return row


async def _discard_if_unused(svc: Services, key: str) -> None:
    try:
        async with svc.session() as session:
            used = await db_files.count_references(session, stored_key=key)
    except Exception:
        return  # the database is down: the start-up sweep will remove it later
    if not used:
        await anyio.to_thread.run_sync(svc.blobs.discard, key)
