"""Errors as REST answers them: a status code and `{"detail": "..."}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import errors

log = logging.getLogger("cars")

STATUS = {
    errors.NotFound: 404,
    errors.EmptyUpload: 400,
    errors.InvalidImage: 400,
    errors.UnsupportedType: 415,
    errors.TooLarge: 413,
    errors.TooManyFiles: 413,
    errors.InvalidUpload: 400,
    errors.Duplicate: 409,
    errors.InvalidInput: 400,
    errors.Unavailable: 503,
    errors.UpstreamError: 502,
    errors.StillQueued: 202,  # accepted: the job goes on
}


def status_of(exc: errors.AppError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


async def app_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.AppError)
    status = status_of(exc)
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"detail": exc.message}, status_code=status, headers=headers)


async def http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def server_error(_request: Request, exc: Exception) -> Response:
    # The traceback is logged by the server; the client learns nothing internal.
    log.error("unexpected error", exc_info=exc)
    return JSONResponse({"detail": "Internal server error."}, status_code=500)


HANDLERS = {errors.AppError: app_error, HTTPException: http_error, Exception: server_error}
