"""The ASGI app: GraphQL at /graphql, the original REST routes, /health.

`uvicorn server:app` serves it; `create_app(settings)` builds one with other
settings (tests, embedding). Importing this module starts nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

import rest
from config import Settings
from middleware.body_limit import BodyLimitByType
from middleware.csrf import CSRFGuard
from rest.docs import STATIC_DIR, StaticAssets, graphiql_page
from rest.errors import HANDLERS
from schema import create_schema
from schema.context import Context, make_context
from services import open_services

log = logging.getLogger("cars")


# Where the GraphQL request is kept for the duration of the call (see below).
_REQUEST = "cars.graphql_request"


class GraphQLApp(GraphQL[Context, None]):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Strawberry parses multipart uploads into temporary files and never
            # closes them; closing the request does, whatever the outcome.
            request = scope.pop(_REQUEST, None)
            if isinstance(request, Request):
                await request.close()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        request.scope[_REQUEST] = request  # made before the body is parsed
        return make_context(request, response)

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads GraphiQL from unpkg.com; this one, from /static.
        return graphiql_page()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        log.setLevel(settings.log_level.upper())
        async with open_services(settings) as services:
            app.state.services = services  # for tools and tests; requests use their own state
            log.info(
                "serving with %s, images in %s", services.engine.dialect.name, settings.upload_dir
            )
            yield {"services": services}

    graphql = GraphQLApp(create_schema(), multipart_uploads_enabled=True)
    guarded = BodyLimitByType(
        CSRFGuard(graphql),
        json_limit=settings.max_json_body_kb * 1024,
        multipart_limit=settings.max_upload_body,
    )
    routes = [
        *rest.routes(settings),
        Route("/graphql", guarded, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Mount("/static", StaticAssets(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers=HANDLERS, lifespan=lifespan)


@functools.cache
def _default_app() -> Starlette:
    return create_app()


def __getattr__(name: str) -> Starlette:
    # `uvicorn server:app` looks the attribute up; building the app only then
    # keeps `import server` free of side effects.
    if name == "app":
        return _default_app()
    raise AttributeError(name)
