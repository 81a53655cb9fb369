"""Only its own pages may change an open server: Host and Origin checks.

"Loopback only" does not stop the browser of the person at that machine: any
page it opens can send a form or a simple `fetch` to http://localhost:8000
(cross-site request forgery), and a page whose name its owner points at
127.0.0.1 after loading (DNS rebinding) can even read the answers. A server
with API keys is safe from both, since a browser never adds a key by itself;
an open one (no keys) checks two things instead:

- `Host` must be localhost, an IP address, or a name in ALLOWED_HOSTS. A page
  reached by a rebound name sends that name; an address cannot be rebound.
- A request that changes something (any method but GET, HEAD and OPTIONS) or
  opens a websocket must come from this server's own origin, from a loopback
  origin (a developer's own front-end dev server, such as the original
  service's frontend on http://localhost:5173), or from CORS_ORIGINS, judged by
  `Origin`, or by `Referer` when a browser sent no `Origin`. Requests with
  neither (curl, scripts) come from no web page and are let through.

With keys, only the Host check runs, and only once ALLOWED_HOSTS is set.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from access import loopback_address
from middleware import has_body, send_json

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        open_server: bool,
        allowed_hosts: tuple[str, ...],
        cors_origins: tuple[str, ...],
    ) -> None:
        self.app = app
        self.check_host = (open_server or bool(allowed_hosts)) and "*" not in allowed_hosts
        self.check_origin = open_server
        self.allowed_hosts = frozenset(allowed_hosts)
        self.trusted_origins = frozenset(_origin_of(origin) for origin in cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.check_host and _over_a_socket(scope) and not self._host_allowed(host):
            await _refuse(
                scope,
                send,
                400,
                f"This server does not answer to the name {_hostname(host)!r}. Its operator"
                " can add the name to ALLOWED_HOSTS.",
            )
            return
        if self.check_origin and _changes_state(scope):
            source = headers.get("origin") or _origin_of(headers.get("referer", "")) or None
            if source is not None and not self._origin_allowed(source, host):
                await _refuse(
                    scope,
                    send,
                    403,
                    f"This server has no API keys, so it takes changes only from its own pages,"
                    f" loopback origins and CORS_ORIGINS, not from {source[:100]!r}.",
                )
                return
        await self.app(scope, receive, send)

    def _host_allowed(self, host: str) -> bool:
        if not host:
            return True  # HTTP/1.0 without Host: not a browser
        name = _hostname(host)
        return (
            name == "localhost" or loopback_address(name) is not None or name in self.allowed_hosts
        )

    def _origin_allowed(self, origin: str, host: str) -> bool:
        parts = urlsplit(origin.strip().lower())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null": a sandboxed frame, a file:// page, a redirect
        if parts.netloc == host.strip().lower():
            return True  # this server's own page
        name = parts.hostname or ""
        if name == "localhost" or loopback_address(name):
            return True
        return _origin_of(origin) in self.trusted_origins


def _changes_state(scope: Scope) -> bool:
    return scope["type"] == "websocket" or scope["method"] not in _SAFE_METHODS


def _over_a_socket(scope: Scope) -> bool:
    """Whether the request came over a TCP or Unix socket, where a browser may
    have sent it. An in-process client (the tests' TestClient) puts a name
    where the server's socket address goes; no browser can reach it."""
    server = scope.get("server")
    return server is None or loopback_address(str(server[0])) is not None


def _hostname(host: str) -> str:
    """`Host` without its port, lower case: example.com, 127.0.0.1, [::1]."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host


def _origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower case; "" when it has none."""
    parts = urlsplit(url.strip().lower())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    await send_json(send, status, {"detail": detail}, close=has_body(scope))
