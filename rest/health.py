"""GET /health: 200 when the server can do its work, 503 when it cannot."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from resolvers.health import health as check_health
from rest.state import services_of


async def health(request: Request) -> JSONResponse:
    svc = services_of(request)
    report = await check_health(svc)
    recognizer = report.recognizer
    if not report.ok:
        status = "unavailable"
    elif not recognizer.available:
        status = "degraded"
    else:
        status = "ok"
    return JSONResponse(
        {
            "status": status,
            "database": {"ok": report.database.ok, "detail": report.database.detail},
            "storage": {"ok": report.storage.ok, "detail": report.storage.detail},
            "recognizer": {
                "ok": recognizer.available,
                "ready": recognizer.ready,
                "backend": report.backend,
                "model": report.model_id,
                "detail": recognizer.detail,
            },
        },
        status_code=200 if report.ok else 503,
    )


def routes() -> list[BaseRoute]:
    return [Route("/health", health, methods=["GET"])]
