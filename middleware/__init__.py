"""ASGI middleware for the GraphQL endpoint and the upload routes."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import Scope, Send


async def send_json(
    send: Send,
    status: int,
    payload: object,
    *,
    close: bool = False,
    extra_headers: dict[str, str] | None = None,
) -> None:
    """Answer from middleware, before any app has run."""
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra_headers or {}).items()]
    if close:  # the rest of the request body will not be read
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def has_body(scope: Scope) -> bool:
    """Whether the request says a body follows: one refused before it is read
    should close the connection rather than have the server read it anyway."""
    headers = Headers(scope=scope)
    return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
