"""POST /inference/{image_id} and /inference/batch."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

import client_json
from config import Settings
from errors import AppError, InvalidInput, StillQueued
from middleware.body_limit import BodyLimit
from resolvers import files, jobs
from rest.shapes import inference_response
from rest.state import services_of


async def infer(request: Request) -> JSONResponse:
    svc = services_of(request)
    file_id = request.path_params["image_id"]
    try:
        row = await jobs.infer_file(svc, file_id)
    except StillQueued as exc:
        # 202: accepted, not finished; the same shape, with no predictions yet.
        still = await files.get_file(svc, file_id)
        return JSONResponse({**inference_response(still, []), "detail": exc.message}, 202)
    found = await files.predictions(svc, [row.id or 0])
    return JSONResponse(inference_response(row, found.get(row.id or 0, [])))


async def infer_batch(request: Request) -> JSONResponse:
    svc = services_of(request)
    try:
        ids = client_json.loads(await request.body())
    except ValueError:  # not JSON, or JSON nested too deeply or with a number too long
        ids = None
    # bool is an int in Python, but never an id
    if not isinstance(ids, list) or not ids or not all(type(i) is int for i in ids):
        raise InvalidInput("The body must be a non-empty JSON list of file ids, e.g. [1, 2, 3].")
    outcomes = await jobs.infer_files(svc, ids)
    done = [o.id for o in outcomes if not isinstance(o, AppError) and o.id is not None]
    found = await files.predictions(svc, done)
    # Files that failed still have a name and a status worth showing.
    failed = await files.rows_by_ids(
        svc, [i for i, o in zip(ids, outcomes, strict=True) if isinstance(o, AppError)]
    )
    answer = []
    for file_id, outcome in zip(ids, outcomes, strict=True):
        if isinstance(outcome, AppError):
            row = failed.get(file_id)
            answer.append(
                {
                    "id": file_id,
                    "filename": row.filename if row else None,
                    "predictions": [],
                    "error": outcome.message,
                    "status": row.status.value if row else None,
                }
            )
        else:
            answer.append(inference_response(outcome, found.get(outcome.id or 0, [])))
    return JSONResponse(answer)


def routes(settings: Settings) -> list[BaseRoute]:
    small = [Middleware(BodyLimit, max_bytes=settings.max_json_body_kb * 1024)]
    # /batch first: otherwise "batch" would be taken for an image id.
    return [
        Route("/inference/batch", infer_batch, methods=["POST"], middleware=small),
        Route("/inference/batch/", infer_batch, methods=["POST"], middleware=small),
        Route("/inference/{image_id}", infer, methods=["POST"], middleware=small),
    ]
