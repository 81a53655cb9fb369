"""The HTTP protocol the server runs in uvicorn: uvicorn's own (httptools), plus a
deadline for request headers.

uvicorn 0.54 has none: a connection that sends nothing, or part of a request
line or of its headers, stays open for as long as the client likes. Its
keep-alive timer runs only between requests, and any byte stops it. A few
thousand such connections use up the server's file descriptors (slowloris).
Here a request's whole header block must arrive within HEADER_TIMEOUT_SECONDS
of the connection's opening, or of the first byte of a later request on it;
otherwise the connection is closed. Bodies have their own deadline, in the app
(middleware/timeouts.py), so that it holds under any server.

`python server.py` (and so scripts/serve) runs it. With uvicorn's own command
line, pass `--http http_protocol:HttpProtocol`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from config import Settings

# What `uvicorn --http` and `uvicorn.run(http=...)` take to run this protocol.
IMPORT_PATH = "http_protocol:HttpProtocol"


@functools.cache
def _configured_timeout() -> float:
    return Settings().header_timeout_seconds


class HttpProtocol(HttpToolsProtocol):
    # Seconds; None reads HEADER_TIMEOUT_SECONDS (once per process).
    header_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None and self._awaiting_headers():
            self._arm()  # the first bytes of the next request on this connection
        super().data_received(data)
        if not self._awaiting_headers():
            self._disarm()  # the headers are in (or it became a websocket)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        """No request is under way: the connection waits for (the rest of) the
        next request's headers."""
        if self.transport.get_protocol() is not self:
            return False  # upgraded to a websocket, which has its own pings
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        seconds = self.header_timeout if self.header_timeout is not None else _configured_timeout()
        self._header_deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if self._awaiting_headers() and not self.transport.is_closing():
            self.transport.close()
