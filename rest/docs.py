"""The API docs pages: Swagger UI at /docs and ReDoc at /redoc, both reading
/openapi.json, and GraphiQL, which server.py serves at /graphql in place of
Strawberry's page.

Every script, style sheet and font comes from /static (libraries from
static/vendor/, written by scripts/vendor-assets), so the pages work offline and
are sent with a Content-Security-Policy that lets them load nothing from any
other host.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path, PurePath

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from rest import openapi

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

CSP = "; ".join(
    [
        "default-src 'self'",
        # Swagger UI's style sheet draws its icons as data: images, and it shows
        # image responses of "Try it out" from blob: URLs.
        "img-src 'self' data: blob:",
        # All three set style attributes and add <style> elements at run time
        # (ReDoc through styled-components); none works without this.
        "style-src 'self' 'unsafe-inline'",
        # ReDoc builds its search index in a worker started from a blob: URL.
        "worker-src 'self' blob:",
        "connect-src 'self'",
        # GraphiQL's style sheet embeds its fonts as data: URLs.
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",  # GraphiQL runs mutations: no framing by other sites
    ]
)
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


class StaticAssets(StaticFiles):
    """static/, served at /static. Paths under vendor/ name the version of what
    they hold, so browsers may keep them for a year; the pages' own scripts
    change with the app, so browsers check them again (ETag) on each use."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = PurePath(path).parts[:1] == ("vendor",)
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "no-cache"
        )
        return response


@functools.cache
def _vendor() -> dict[str, str]:
    """The URL folder of each vendored package, from the list that
    scripts/vendor-assets writes, so that a new version needs no edit here."""
    text = (STATIC_DIR / "vendor" / "VERSIONS.txt").read_text()
    rows = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    return {name: f"/static/vendor/{name}-{version}" for name, version, _integrity in rows}


def _page(title: str, root: str, *, styles: Sequence[str], scripts: Sequence[str]) -> HTMLResponse:
    links = "".join(f'  <link rel="stylesheet" href="{href}">\n' for href in styles)
    tags = "".join(f'  <script src="{src}"></script>\n' for src in scripts)
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n'
        '  <meta charset="utf-8">\n'
        '  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"  <title>{title} · Cars Recognizer</title>\n"
        '  <link rel="icon" href="data:,">\n'  # no request for /favicon.ico
        f'{links}  <link rel="stylesheet" href="/static/docs/docs.css">\n'
        f"</head>\n<body>\n  {root}\n{tags}</body>\n</html>\n"
    )
    return HTMLResponse(html, headers=_HEADERS)


def graphiql_page() -> HTMLResponse:
    react, react_dom, graphiql = _vendor()["react"], _vendor()["react-dom"], _vendor()["graphiql"]
    return _page(
        "GraphiQL",
        '<div id="graphiql">Loading…</div>',
        styles=[f"{graphiql}/graphiql.min.css"],
        scripts=[
            f"{react}/react.production.min.js",
            f"{react_dom}/react-dom.production.min.js",
            f"{graphiql}/graphiql.min.js",
            "/static/docs/graphiql.js",
        ],
    )


async def swagger_ui(_request: Request) -> HTMLResponse:
    swagger = _vendor()["swagger-ui-dist"]
    return _page(
        "Swagger UI",
        '<div id="swagger-ui"></div>',
        styles=[f"{swagger}/swagger-ui.css"],
        scripts=[f"{swagger}/swagger-ui-bundle.js", "/static/docs/swagger.js"],
    )


async def redoc(_request: Request) -> HTMLResponse:
    return _page(
        "ReDoc",
        '<div id="redoc"></div>',
        styles=[],
        scripts=[f"{_vendor()['redoc']}/redoc.standalone.js", "/static/docs/redoc.js"],
    )


async def openapi_json(_request: Request) -> JSONResponse:
    return JSONResponse(openapi.spec())


def routes() -> list[BaseRoute]:
    return [
        Route("/docs", swagger_ui, methods=["GET"]),
        Route("/redoc", redoc, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
