"""File management: /files/ and each file's image and thumbnail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from resolvers import files
from rest.shapes import image_metadata, listed_json, listing_shape
from services import Services

# The stored bytes came from a stranger: the browser must take them as the type
# we detected and never run anything inside them.
_UNTRUSTED_BYTES = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=86400",
}


def _svc(request: Request) -> Services:
    return request.state.services  # type: ignore[no-any-return]


async def list_files(request: Request) -> Response:
    """The whole collection as one JSON array, streamed a page at a time."""
    pages = files.listing_pages(_svc(request), listed_json, listing_shape())
    # The first page is read before the answer starts: a database outage is
    # still a 503 rather than a cut-off 200.
    first = await anext(pages, None)
    return StreamingResponse(_json_array(first, pages), media_type="application/json")


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
    svc = _svc(request)
    row = await files.get_file(svc, request.path_params["image_id"])
    found = await files.predictions(svc, [row.id or 0])
    return JSONResponse(image_metadata(row, found.get(row.id or 0, [])))


async def delete_file(request: Request) -> JSONResponse:
    row = await files.delete_file(_svc(request), request.path_params["image_id"])
    return JSONResponse({"message": f"Deleted file {row.id} ({row.filename})."})


async def delete_all(request: Request) -> JSONResponse:
    count = await files.delete_all_files(_svc(request))
    return JSONResponse({"message": f"Deleted {count} files.", "deleted": count})


async def reprocess(request: Request) -> JSONResponse:
    row = await files.reprocess_file(_svc(request), request.path_params["image_id"])
    return JSONResponse(image_metadata(row, []))


async def image(request: Request) -> FileResponse:
    row, path = await files.image_of(_svc(request), request.path_params["image_id"])
    disposition = f"inline; filename*=utf-8''{quote(row.filename)}"
    return FileResponse(
        path,
        media_type=row.mime_type,
        headers={**_UNTRUSTED_BYTES, "Content-Disposition": disposition},
    )


async def thumbnail(request: Request) -> FileResponse:
    path = await files.thumbnail_of(_svc(request), request.path_params["image_id"])
    return FileResponse(path, media_type="image/jpeg", headers=_UNTRUSTED_BYTES)


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
