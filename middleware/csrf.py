"""Cross-site request forgery protection for GraphQL, as Apollo Server does it.

A plain HTML form, or a `fetch` that avoids a CORS preflight, can only send a
"simple" content type (form-urlencoded, multipart/form-data, text/plain) and no
custom headers. GraphQL multipart uploads use one of those types, so a hostile
page could post a mutation with the user's cookies. Requiring one of the headers
below (which forces a preflight) for such requests closes that door; JSON
requests already force a preflight by their content type.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from middleware import send_json

PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
_REFUSAL = {
    "errors": [
        {
            "message": "This request was refused as a possible cross-site request forgery: "
            "send it with the header `Apollo-Require-Preflight: true` (or "
            "`X-Apollo-Operation-Name`), or as application/json.",
            "extensions": {"code": "CSRF_PREFLIGHT_REQUIRED"},
        }
    ]
}
_SIMPLE_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


class CSRFGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and _needs_preflight(scope):
            await send_json(send, 400, _REFUSAL)
            return
        await self.app(scope, receive, send)


def _needs_preflight(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    if any(headers.get(name) for name in PREFLIGHT_HEADERS):
        return False
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in _SIMPLE_TYPES or not content_type
