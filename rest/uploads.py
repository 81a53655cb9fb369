"""POST /upload/ and /upload/batch."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from config import Settings
from db.models import FileRow
from errors import EmptyUpload, InvalidInput, InvalidUpload
from middleware.body_limit import BodyLimit
from resolvers import jobs
from resolvers.uploads import ReceivedFile
from rest.errors import status_of
from rest.shapes import image_metadata
from rest.state import services_of
from rest.streamed_form import streamed_files

# Room for the multipart framing around the file itself.
_FRAMING = 64 * 1024


def _files(
    request: Request, field_name: str, *, max_files: int
) -> AbstractAsyncContextManager[list[ReceivedFile]]:
    svc = services_of(request)
    return streamed_files(
        request,
        svc.blobs,
        field_name=field_name,
        max_files=max_files,
        max_size=svc.settings.max_file_size,
    )


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
    recognize = _recognize(request)  # before the body: a wrong value costs no upload
    async with _files(request, "file", max_files=1) as sent:
        if not sent:
            raise EmptyUpload("No file in the form field 'file'.")
        row = await jobs.upload_file(svc, sent[0], recognize=recognize)
    return JSONResponse(
        {"message": f"Uploaded {row.filename}.", "files": [image_metadata(row, [])]}
    )


async def upload_batch(request: Request) -> JSONResponse:
    svc = services_of(request)
    limit = svc.settings.max_files_per_request
    recognize = _recognize(request)
    async with _files(request, "files", max_files=limit) as sent:
        if not sent:
            raise EmptyUpload("No files in the form field 'files'.")
        outcomes = await jobs.upload_files(svc, sent, recognize=recognize)
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
