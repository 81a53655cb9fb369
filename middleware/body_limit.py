"""Request body limits, enforced while the body streams in.

A declared Content-Length over the limit is refused before a byte is read; a
body without one (chunked) is counted as it arrives and refused once it passes
the limit, so a 2 GB upload costs the server at most the limit. The refusal is
our `TooLarge`, which the app's error handlers turn into a JSON 413.

Starlette's own RequestBodyLimitMiddleware answers in plain text, while every
REST error here is `{"detail": ...}` JSON; hence this small version.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from errors import TooLarge
from middleware import send_json


def _describe(limit: int) -> str:
    return f"The request body is larger than the {limit / (1024 * 1024):g} MB limit."


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await send_json(send, 413, {"detail": _describe(self.max_bytes)}, close=True)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise TooLarge(_describe(self.max_bytes))
            return message

        await self.app(scope, counted, send)


class BodyLimitByType:
    """GraphQL takes small JSON queries and large multipart uploads at one URL:
    each content type gets its own limit."""

    def __init__(self, app: ASGIApp, *, json_limit: int, multipart_limit: int) -> None:
        self.json = BodyLimit(app, max_bytes=json_limit)
        self.multipart = BodyLimit(app, max_bytes=multipart_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = (
            Headers(scope=scope).get("content-type", "") if scope["type"] == "http" else ""
        )
        limited = self.multipart if content_type.startswith("multipart/") else self.json
        await limited(scope, receive, send)
