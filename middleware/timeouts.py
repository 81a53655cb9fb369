"""A deadline on every wait for the next piece of a request body.

A client that stops sending in the middle of a body would otherwise hold its
connection, and whatever the server has buffered of the body so far, for as
long as it likes. Each wait for more body gets BODY_TIMEOUT_SECONDS; after
that the request ends in an HTTPException, which the app's error handlers turn
into a JSON 408 that closes the connection. (Not one of our AppErrors: those
are for resolvers, and this one never reaches GraphQL.)

The deadline is per piece, not for the whole body, so a large upload over a
slow but steady link still arrives. Headers are uvicorn's business, before any
ASGI app runs: see http_protocol.py.
"""

from __future__ import annotations

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTimeout:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed() -> Message:
            nonlocal body_done
            if body_done:
                # After the body, receive() only waits for the client to leave
                # (streaming responses listen for it): no deadline on that.
                return await receive()
            try:
                with anyio.fail_after(self.seconds):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"The request body stopped arriving for {self.seconds:g} seconds.",
                    headers={"Connection": "close"},  # the rest will never be read
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed, send)
