"""File management: /files/ and each file's image and thumbnail."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, BinaryIO
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from resolvers import files
from rest.shapes import image_metadata, listed_json, listing_shape
from rest.state import services_of
from storage.objects import OpenObject

# The stored bytes came from a stranger: the browser must take them as the type
# we detected and never run anything inside them.
_UNTRUSTED_BYTES = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=86400",
}


class OpenFileResponse(FileResponse):
    """A FileResponse from a file opened before the response began: its length
    and bytes come from the open file, which a concurrent delete cannot take
    away, so the body always matches the Content-Length it declared. (Starlette's
    own stats, then reopens, the path, and a delete in between gives a 500 or a
    short body.) Ranges, ETag and HEAD work as in FileResponse."""

    def __init__(self, handle: BinaryIO, **kwargs: Any) -> None:
        self._handle = handle
        super().__init__(handle.name, stat_result=os.fstat(handle.fileno()), **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._handle.close()

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        self._handle.seek(0)
        yield anyio.wrap_file(self._handle)

    async def _handle_simple(self, send: Send, send_header_only: bool, send_pathsend: bool) -> None:
        # never "pathsend": the server would open the path again
        await super()._handle_simple(send, send_header_only, False)


async def list_files(request: Request) -> Response:
    """The whole collection as one JSON array: at once when it is small and
    kept whole, else streamed a page at a time, in memory that stays bounded."""
    found = await files.listing_pages(services_of(request), listed_json, listing_shape())
    if isinstance(found, list):
        return _JSONParts([b"[", *_commas(found), b"]"])
    # The first page is read before the answer starts: a database outage is
    # still a 503 rather than a cut-off 200.
    first = await anext(found, None)
    return StreamingResponse(_json_array(first, found), media_type="application/json")


def _commas(pages: list[bytes]) -> list[bytes]:
    between = [[b",", page] for page in pages[1:]]
    return [*pages[:1], *(part for pair in between for part in pair)]


class _JSONParts(Response):
    """A JSON body sent as the parts it is made of, under the Content-Length
    of them all: megabytes are not copied into one to be sent."""

    media_type = "application/json"

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        super().__init__(headers={"Content-Length": str(sum(len(part) for part in parts))})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for n, part in enumerate(self.parts, start=1):
            await send(
                {"type": "http.response.body", "body": part, "more_body": n < len(self.parts)}
            )


async def _json_array(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The pages' elements as one array: commas between pages that hold any."""
    yield b"["
    written = bool(first)
    if first:
        yield first
    async for page in rest:
        if page:
            if written:
                yield b","  # on its own: a page is megabytes, not worth a copy
            yield page
            written = True
    yield b"]"


async def get_file(request: Request) -> JSONResponse:
    svc = services_of(request)
    row = await files.get_file(svc, request.path_params["image_id"])
    found = await files.predictions(svc, [row.id or 0])
    return JSONResponse(image_metadata(row, found.get(row.id or 0, [])))


async def delete_file(request: Request) -> JSONResponse:
    row = await files.delete_file(services_of(request), request.path_params["image_id"])
    return JSONResponse({"message": f"Deleted file {row.id} ({row.filename})."})


async def delete_all(request: Request) -> JSONResponse:
    count = await files.delete_all_files(services_of(request))
    return JSONResponse({"message": f"Deleted {count} files.", "deleted": count})


async def reprocess(request: Request) -> JSONResponse:
    row = await files.reprocess_file(services_of(request), request.path_params["image_id"])
    return JSONResponse(image_metadata(row, []))


async def image(request: Request) -> Response:
    row, opened = await files.open_image(services_of(request), request.path_params["image_id"])
    disposition = f"inline; filename*=utf-8''{quote(row.filename)}"
    return _serve(opened, row.mime_type, {"Content-Disposition": disposition})


async def thumbnail(request: Request) -> Response:
    opened = await files.open_thumbnail(services_of(request), request.path_params["image_id"])
    return _serve(opened, "image/jpeg", {})


def _serve(opened: OpenObject, media_type: str, headers: dict[str, str]) -> Response:
    """A file in the local folder is served from its open handle (ranges, ETag,
    HEAD); an S3 object streams as it arrives: a large image is never held whole."""
    headers = {**_UNTRUSTED_BYTES, **headers}
    if opened.handle is not None:
        return OpenFileResponse(opened.handle, media_type=media_type, headers=headers)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in opened.chunks():
                yield chunk
        finally:
            await opened.close()

    return StreamingResponse(
        body(), media_type=media_type, headers={**headers, "Content-Length": str(opened.size)}
    )


# One route per path with every method it takes, so that a 405 names them all
# in its `Allow` header.
async def _collection(request: Request) -> Response:
    return await (delete_all if request.method == "DELETE" else list_files)(request)


async def _member(request: Request) -> JSONResponse:
    return await (delete_file if request.method == "DELETE" else get_file)(request)


def routes() -> list[BaseRoute]:
    # Both spellings of each collection route: a redirect would lose a POST body.
    return [
        Route("/files", _collection, methods=["GET", "DELETE"]),
        Route("/files/", _collection, methods=["GET", "DELETE"]),
        Route("/files/{image_id}", _member, methods=["GET", "DELETE"]),
        Route("/files/{image_id}/reprocess", reprocess, methods=["POST"]),
        Route("/files/{image_id}/image", image, methods=["GET"]),
        Route("/files/{image_id}/thumbnail", thumbnail, methods=["GET"]),
    ]
