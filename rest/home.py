"""The built-in web page at `/`: upload photos, recognize them with live
progress, browse and delete the results.

The page is static/app/index.html with plain ES modules beside it (no build
step). Everything it does goes through GraphQL at /graphql, so it holds no data
of its own and is public (middleware/api_keys.py); with API keys set, the page
asks for one and sends it with each request.

It is sent with a Content-Security-Policy as strict as the docs pages' (see
rest/docs.py), stricter on styles: its own scripts and style sheet only, no
inline code, and no request to another host.
"""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from rest.docs import STATIC_DIR

PAGE = STATIC_DIR / "app" / "index.html"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # No 'unsafe-inline': the scripts size bars through the CSSOM, which CSP allows.
        "style-src 'self'",
        # Thumbnails: from /files/.../thumbnail, or, with an API key, fetched with the
        # key and shown from blob: URLs (an <img> cannot send a header).
        "img-src 'self' blob: data:",
        # GraphQL over HTTP and its websocket at ws(s)://<this host>/graphql: CSP
        # Level 3's 'self' covers the same host's ws: and wss: (the browser tests
        # check that the subscription connects under this policy).
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",  # the page deletes files: no framing by other sites
    ]
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # The page is small and changes with the app: browsers check it on each visit.
    "Cache-Control": "no-cache",
}


@functools.cache
def _html() -> str:
    return PAGE.read_text(encoding="utf-8")


async def home(_request: Request) -> HTMLResponse:
    return HTMLResponse(_html(), headers=_HEADERS)


def routes() -> list[BaseRoute]:
    return [Route("/", home, methods=["GET"])]
