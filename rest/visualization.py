"""/visualization/: statistics, the CSV export and the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import BaseRoute, Route

from db.models import FileStatus
from errors import InvalidInput
from resolvers import export, report, stats
from rest import charts, shapes
from rest.state import services_of

# Autoescaping everywhere: a file named `<script>...` is shown, never run.
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# The report has no script and loads nothing from elsewhere; say so to the browser.
_REPORT_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def stats_route(request: Request) -> JSONResponse:
    return JSONResponse(shapes.stats(await stats.collection_stats(services_of(request))))


async def export_csv(request: Request) -> StreamingResponse:
    params = request.query_params
    chunks = await export.csv_export(
        services_of(request),
        status=export.parse_status(params.get("status")),
        make=params.get("make"),
    )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=results.csv"},
    )


async def report_route(request: Request) -> HTMLResponse:
    raw = request.query_params.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("page must be a whole number from 1 to 999,999,999.")
    data = await report.report_page(services_of(request), page=int(raw))
    s = data.stats
    html = _TEMPLATES.get_template("report.html").render(
        stats=s,
        Status=FileStatus,
        files=data.files,
        predictions=data.predictions,
        page=data.page,
        pages=data.pages,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        make_bars=charts.horizontal_bars(s.top_makes),
        confidence_bars=charts.columns(
            [(f"{b.low:.0%}–{b.high:.0%}", b.count) for b in s.confidence], height=150
        ),
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": _REPORT_CSP})


def routes() -> list[BaseRoute]:
    return [
        Route("/visualization/stats", stats_route, methods=["GET"]),
        Route("/visualization/export/csv", export_csv, methods=["GET"]),
        Route("/visualization/report", report_route, methods=["GET"]),
    ]
