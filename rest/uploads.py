"""POST /upload/ and /upload/batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from config import Settings
from db.models import FileRow
from errors import EmptyUpload, InvalidInput, InvalidUpload
from middleware.body_limit import BodyLimit
from resolvers import jobs
from rest.errors import status_of
from rest.shapes import image_metadata
from rest.state import services_of

# Room for the multipart framing around the file itself.
_FRAMING = 64 * 1024


@asynccontextmanager
async def _form(request: Request, *, max_files: int) -> AsyncIterator[FormData]:
    """The parsed form, its temporary files closed afterwards. Starlette's terse
    parser errors are reworded so the client learns what to change."""
    try:
        form = await request.form(max_files=max_files)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        raise InvalidInput(
            f"The multipart body could not be read: {exc.detail} Each part's headers, "
            "file name included, must stay under 4 KB."
        ) from exc
    try:
        yield form
    finally:
        await form.close()


def _recognize(request: Request) -> bool | None:
    """`?recognize=true` queues the uploads for recognition; absent, the
    AUTO_RECOGNIZE setting decides."""
    value = request.query_params.get("recognize")
    if value is None:
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(f"`recognize` must be true or false; got {value!r}.")


async def upload(request: Request) -> JSONResponse:
    svc = services_of(request)
    async with _form(request, max_files=1) as form:
        sent = [v for v in form.getlist("file") if isinstance(v, UploadFile)]
        if not sent:
            raise EmptyUpload("No file in the form field 'file'.")
        row = await jobs.upload_file(svc, sent[0], recognize=_recognize(request))
    return JSONResponse(
        {"message": f"Uploaded {row.filename}.", "files": [image_metadata(row, [])]}
    )


async def upload_batch(request: Request) -> JSONResponse:
    svc = services_of(request)
    async with _form(request, max_files=svc.settings.max_files_per_request) as form:
        sent = [v for v in form.getlist("files") if isinstance(v, UploadFile)]
        if not sent:
            raise EmptyUpload("No files in the form field 'files'.")
        outcomes = await jobs.upload_files(svc, sent, recognize=_recognize(request))
    stored = [o for o in outcomes if isinstance(o, FileRow)]
    refused = [
        {"filename": f.filename, "status": status_of(o), "detail": o.message}
        for f, o in zip(sent, outcomes, strict=False)
        if isinstance(o, InvalidUpload)
    ]
    reasons = "; ".join(f"{r['filename']}: {r['detail']}" for r in refused)
    if not stored:
        return JSONResponse({"detail": f"No file was accepted. {reasons}"}, status_code=400)
    message = f"Uploaded {len(stored)} of {len(sent)} files."
    if refused:
        message += f" Refused {reasons}"
    return JSONResponse(
        {
            "message": message,
            "files": [image_metadata(row, []) for row in stored],
            "rejected": refused,
        }
    )


def routes(settings: Settings) -> list[BaseRoute]:
    single = settings.max_file_size + _FRAMING
    batch = settings.max_upload_body
    return [
        Route(path, endpoint, methods=["POST"], middleware=[Middleware(BodyLimit, max_bytes=limit)])
        for path, endpoint, limit in [
            ("/upload", upload, single),
            ("/upload/", upload, single),
            ("/upload/batch", upload_batch, batch),
            ("/upload/batch/", upload_batch, batch),
        ]
    ]
