"""GET /catalog and POST /catalog: the zero-shot catalog over plain HTTP."""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

import client_json
from config import Settings
from db.models import CatalogEntryRow
from errors import AppError, InvalidInput
from middleware.body_limit import BodyLimit
from recognition.prompts import entry_label
from resolvers import catalog
from resolvers.catalog import NewEntry
from resolvers.ids import encode_cursor, small_number
from rest.state import services_of

_FIELDS = {"make": str, "model": str, "body_type": str, "year_from": int, "year_to": int}
_KINDS = {str: "a string", int: "a whole number"}


def entry_json(row: CatalogEntryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "label": entry_label(row),
        "make": row.make,
        "model": row.model,
        "body_type": row.body_type,
        "year_from": row.year_from,
        "year_to": row.year_to,
        "enabled": row.enabled,
        "updated_at": row.updated_at.isoformat(),
    }


async def list_catalog(request: Request) -> JSONResponse:
    svc = services_of(request)
    params = request.query_params
    limit = small_number(params.get("limit", "100"))
    if limit is None or limit > catalog.MAX_PAGE_SIZE:
        raise InvalidInput(f"`limit` must be a whole number from 0 to {catalog.MAX_PAGE_SIZE}.")
    page = await catalog.list_entries(
        svc,
        first=limit,
        after=params.get("after") or None,
        search=params.get("search") or None,
        make=params.get("make") or None,
    )
    total = await catalog.count_entries(
        svc, search=params.get("search") or None, make=params.get("make") or None
    )
    last = page.rows[-1].id if page.rows and page.has_next_page else None
    return JSONResponse(
        {
            "entries": [entry_json(r) for r in page.rows],
            "total": total,
            "next": encode_cursor(last) if last is not None else None,
        }
    )


def _new_entry(item: object) -> NewEntry:
    if not isinstance(item, dict) or not isinstance(item.get("make"), str):
        raise InvalidInput('Each entry is an object such as {"make": "Tesla", "model": "Model Y"}.')
    for name, kind in _FIELDS.items():
        value = item.get(name)
        # bool is an int in Python, but never a year
        if value is not None and (type(value) is not kind):
            raise InvalidInput(f"`{name}` must be {_KINDS[kind]} or null.")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput("`enabled` must be true or false.")
    return NewEntry(
        make=item["make"],
        model=item.get("model") or "",
        body_type=item.get("body_type"),
        year_from=item.get("year_from"),
        year_to=item.get("year_to"),
        enabled=enabled,
    )


async def add_to_catalog(request: Request) -> JSONResponse:
    svc = services_of(request)
    try:
        body = client_json.loads(await request.body())
    except client_json.InvalidJSON as exc:
        raise InvalidInput(exc.message) from None
    except ValueError:
        body = None
    if not isinstance(body, list) or not body:
        raise InvalidInput("The body must be a non-empty JSON list of entries.")
    outcomes = await catalog.add_entries(svc, [_new_entry(item) for item in body])
    return JSONResponse(
        {
            "added": [entry_json(o) for o in outcomes if isinstance(o, CatalogEntryRow)],
            "errors": [
                {"index": i, "code": o.code, "detail": o.message}
                for i, o in enumerate(outcomes)
                if isinstance(o, AppError)
            ],
        }
    )


def routes(settings: Settings) -> list[BaseRoute]:
    small = [Middleware(BodyLimit, max_bytes=settings.max_json_body_kb * 1024)]
    return [
        # One route for the path, so that a 405 lists every method it takes.
        Route("/catalog", _catalog, methods=["GET", "POST"], middleware=small),
    ]


async def _catalog(request: Request) -> JSONResponse:
    return await (add_to_catalog if request.method == "POST" else list_catalog)(request)
