"""Taking uploads in: the same checks for GraphQL and REST.

Each file is copied out of the request into tmp/ (hashed, size-checked; REST
routes write it there as it streams in, rest/streamed_form.py), checked
as an image (the check's decode also makes the preview recognition reads), put
in the object store with its preview, and only then given its database row (by
the protocol in resolvers/blobs.py). Any refusal along the way removes what was
written, so a refused upload leaves nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import anyio
from sqlmodel.ext.asyncio.session import AsyncSession

from db import files as db_files
from db.models import FileRow
from errors import EmptyUpload, InvalidUpload, TooManyFiles, UnsupportedType
from events import FileEventKind
from resolvers import blobs
from services import Services
from storage import blobs as scratch
from storage.blobs import TempBlob
from storage.decode_pool import decoded_bytes
from storage.filenames import clean_filename, extension
from storage.images import ImageInfo, PreviewOut, check_image, read_header
from storage.objects import PREVIEW_SIZE, preview_key

log = logging.getLogger("cars.uploads")


class IncomingFile(Protocol):
    """An uploaded file as the HTTP layer hands it over (Starlette's UploadFile)."""

    @property
    def filename(self) -> str | None: ...

    @property
    def file(self) -> BinaryIO: ...


@dataclass(frozen=True)
class ReceivedFile:
    """An upload already in tmp/, written there as it arrived, or the reason it
    was refused on the way (too large, empty)."""

    filename: str | None
    blob: TempBlob | InvalidUpload


Upload = IncomingFile | ReceivedFile


async def upload_file(svc: Services, upload: Upload) -> FileRow:
    outcome = (await upload_files(svc, [upload]))[0]
    if isinstance(outcome, InvalidUpload):
        raise outcome
    return outcome


async def upload_files(svc: Services, uploads: Sequence[Upload]) -> list[FileRow | InvalidUpload]:
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


async def _store(svc: Services, upload: Upload) -> FileRow:
    settings = svc.settings
    name = clean_filename(upload.filename, max_length=settings.max_filename_length)
    blob = await _received(svc, upload)
    preview = PreviewOut(svc.blobs.scratch(".jpg"), PREVIEW_SIZE)
    try:
        # The content decides the type; the name must agree that it is an image
        # we take, so a file keeps an extension that opens it as what it is.
        header = await anyio.to_thread.run_sync(
            lambda: read_header(
                blob.path,
                allowed_types=settings.allowed_types,
                max_pixels=settings.max_image_pixels,
                max_aspect_ratio=settings.max_aspect_ratio,
            )
        )
        # The bytes go to disk (fsync, for the row committed after) while the
        # decode reads them from the page cache: the two overlap.
        synced = asyncio.ensure_future(anyio.to_thread.run_sync(lambda: scratch.sync(blob)))
        try:
            # Decoding holds every pixel (36 MB for 12 megapixels): the server's
            # one decode pool bounds the pixels held at once by every decode
            # together, so memory follows that bound, not the number of clients.
            info = await svc.decoder.run(
                lambda: check_image(
                    blob.path, header, max_pixels=settings.max_image_pixels, preview=preview
                ),
                cost=decoded_bytes(header.width, header.height),
            )
        finally:
            await asyncio.shield(synced)
        if extension(name) not in settings.allowed_extensions:
            raise UnsupportedType(
                f"{name or 'The file'!s} must have one of the extensions "
                f"{', '.join(settings.allowed_extensions)}."
            )
    except BaseException:
        blob.path.unlink(missing_ok=True)
        preview.path.unlink(missing_ok=True)
        raise
    return await _keep(svc, name, blob, info, preview.path)


async def _received(svc: Services, upload: Upload) -> TempBlob:
    """The upload's bytes in tmp/: already there (REST), or copied out of the
    request's spooled file (GraphQL multipart)."""
    if isinstance(upload, ReceivedFile):
        if isinstance(upload.blob, InvalidUpload):
            raise upload.blob
        return upload.blob
    source = upload.file
    limit = svc.settings.max_file_size
    return await anyio.to_thread.run_sync(lambda: svc.blobs.receive(source, limit=limit))


async def _keep(
    svc: Services, name: str, blob: TempBlob, info: ImageInfo, preview: Path
) -> FileRow:
    async def insert(session: AsyncSession) -> FileRow:
        return await db_files.insert_file(
            session,
            filename=name,
            stored_key=f"{blob.sha256[:2]}/{blob.sha256}",
            sha256=blob.sha256,
            mime_type=info.mime_type,
            size=blob.size,
            width=info.width,
            height=info.height,
        )

    try:
        # The preview made by the check's decode goes in beside the image: what
        # recognition reads, wherever it runs, without decoding the original.
        row = await blobs.store_file(
            svc,
            blob,
            insert,
            beside=[(preview_key(blob.sha256), preview)] if info.previewed else [],
        )
    finally:
        await anyio.Path(blob.path).unlink(missing_ok=True)
        await anyio.Path(preview).unlink(missing_ok=True)
    log.info("stored file %s (%s, %d bytes)", row.id, info.mime_type, blob.size)
    svc.events.publish(FileEventKind.UPLOADED, row)
    return row
