"""API keys at the door, for every HTTP route and the GraphQL websocket.

Each request leaves here with its role in `scope["cars.role"]`: WRITE on an open
server, the key's role otherwise. GraphQL reads it to refuse mutations to
read-only keys (schema/access.py); REST is refused here, by method.

Public without a key: `/health` (for load balancers), and the pages and assets
that hold no data (the page at `/`, GraphiQL's page, Swagger UI, ReDoc, the
OpenAPI document, /static), so a browser can load them and then send its key
with the requests that do read data.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from access import KeyRing, Role, key_from_headers, loopback_address
from middleware import has_body, send_json

log = logging.getLogger("cars")

ROLE = "cars.role"
_PUBLIC_PAGES = frozenset({"/", "/health", "/docs", "/redoc", "/openapi.json"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiKeyGuard:
    def __init__(self, app: ASGIApp, keys: KeyRing, *, allow_open: bool) -> None:
        self.app = app
        self.keys = keys
        self.allow_open = allow_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.keys.open:
            if not self.allow_open and not _arrived_on_loopback(scope):
                await self._refuse(scope, send, 403, _EXPOSED)
                return
            scope[ROLE] = Role.WRITE
            await self.app(scope, receive, send)
            return
        if _public(scope):
            await self.app(scope, receive, send)
            return
        presented = key_from_headers(Headers(scope=scope))
        role = self.keys.role_of(presented)
        if presented is not None and role is None:
            client = scope.get("client")
            log.warning("refused an invalid API key from %s", client[0] if client else "?")
            await self._refuse(scope, send, 401, "The API key is not valid.")
            return
        if role is None:
            if scope["type"] == "websocket" and scope["path"] == "/graphql":
                # A browser cannot set headers on a websocket: the key may come in
                # `connection_init` instead, checked by the GraphQL view.
                await self.app(scope, receive, send)
                return
            await self._refuse(scope, send, 401, _KEY_NEEDED)
            return
        if role is Role.READ and not _read_allowed(scope):
            await self._refuse(scope, send, 403, "This API key may read but not change anything.")
            return
        scope[ROLE] = role
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        headers = {"www-authenticate": 'Bearer realm="cars"'} if status == 401 else None
        # A body left unread would otherwise still be read (and thrown away).
        await send_json(
            send, status, {"detail": detail}, extra_headers=headers, close=has_body(scope)
        )


_KEY_NEEDED = (
    "An API key is needed: send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`."
)
_EXPOSED = (
    "This server has no API keys and only answers on loopback. Its operator can set"
    " API_KEYS, or ALLOW_OPEN=1 to serve everyone."
)


def _public(scope: Scope) -> bool:
    path: str = scope["path"]
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return False
    if path in _PUBLIC_PAGES or path.startswith("/static/"):
        return True
    # GraphiQL's page: a GET without a query executes nothing.
    return path == "/graphql" and "query" not in QueryParams(scope["query_string"])


def _read_allowed(scope: Scope) -> bool:
    if scope["type"] == "websocket":
        return True  # GraphQL refuses a read key's mutations itself
    if scope["path"] == "/graphql":
        # A multipart GraphQL request carries uploads, which only mutations take:
        # refused here, before its body is read, rather than after the server has
        # held every part in memory. Other bodies are small JSON, and GraphQL
        # refuses a read key's mutations itself.
        content_type = Headers(scope=scope).get("content-type", "")
        return not content_type.lower().startswith("multipart/")
    return scope["method"] in _SAFE_METHODS


def _arrived_on_loopback(scope: Scope) -> bool:
    """Whether the request came in on a loopback address of this host, whatever
    address the server was told to bind: an open server started with
    `uvicorn --host 0.0.0.0` still answers only its own machine."""
    server = scope.get("server")
    loopback = loopback_address(str(server[0])) if server else None
    # No socket address: a Unix socket, or an in-process client such as the tests'.
    return loopback is not False
