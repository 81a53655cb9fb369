"""The ASGI app: GraphQL at /graphql, the original REST routes, /health.

`uvicorn server:app` serves it; `create_app(settings)` builds one with other
settings (tests, embedding). Importing this module starts nothing.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

import client_json
import http_protocol
import rest
from access import KeyRing, exposure_problem, key_from_connection_params
from config import Settings
from middleware.api_keys import ApiKeyGuard
from middleware.body_limit import BodyLimitByType
from middleware.csrf import PREFLIGHT_HEADERS, CSRFGuard
from middleware.origins import OriginGuard
from middleware.timeouts import BodyTimeout
from resolvers import jobs
from rest.docs import STATIC_DIR, StaticAssets, graphiql_page
from rest.errors import HANDLERS
from schema import create_schema
from schema.context import Context, make_context
from schema.multipart import place_files
from services import open_services

log = logging.getLogger("cars")


# Where the GraphQL request is kept for the duration of the call (see below).
_REQUEST = "cars.graphql_request"


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, settings: Settings, keys: KeyRing) -> None:
        super().__init__(
            create_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_on else None,
            multipart_uploads_enabled=True,
            max_subscriptions_per_connection=settings.graphql_max_subscriptions,
            allowed_origins=settings.cors_origins,
        )
        self.keys = keys

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

    async def on_ws_connect(self, context: Context) -> None:
        # Browsers cannot put a key in a websocket's headers, so one that came
        # without may send it in `connection_init` (see access.py).
        if context.role is None:
            context.role = self.keys.role_of(key_from_connection_params(context.connection_params))
        if context.role is None:
            raise ConnectionRejectionError({"message": "An API key is needed."})

    def decode_json(self, data: str | bytes) -> object:
        # Every JSON document of a GraphQL request (the body, `operations`,
        # `map`, GET's `variables`) is an object, or a list for a batch;
        # Strawberry calls `.get` on what it gets, so a bare 5 was a 500.
        try:
            value = client_json.loads(data)
        except client_json.InvalidJSON as exc:  # nested too deeply, or a number too long
            raise HTTPException(400, exc.message) from None
        # JSONDecodeError goes on: Strawberry answers 400 itself
        if not isinstance(value, (dict, list)):
            raise HTTPException(
                400, "A GraphQL request must be a JSON object (a list for a batch)."
            )
        return value

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        try:
            form = await request.get_form_data()
        except ValueError as e:
            raise HTTPException(400, "Unable to parse the multipart body") from e
        operations = form.form.get("operations", "{}")
        files_map = form.form.get("map", "{}")
        if isinstance(operations, (bytes, str)):
            operations = self.parse_json(operations)
        if isinstance(files_map, (bytes, str)):
            files_map = self.parse_json(files_map)
        placed: dict[str, str] = place_files(operations, files_map, form.files)
        return placed

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads GraphiQL from unpkg.com; this one, from /static.
        return graphiql_page()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        configure_logging(settings.log_level)
        async with open_services(settings) as services, jobs.running(services):
            app.state.services = services  # for tools and tests; requests use their own state
            log.info(
                "serving with %s, images in %s, jobs %s%s",
                services.engine.dialect.name,
                settings.upload_dir,
                settings.job_queue,
                "" if settings.run_worker else " (taken by workers only)",
            )
            _warn_if_open(settings)
            yield {"services": services}

    keys = KeyRing.from_settings(settings)
    graphql = GraphQLApp(settings, keys)
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
    middleware = [
        # Outermost, so a preflight is answered before any key is asked for.
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "x-api-key", "content-type", *PREFLIGHT_HEADERS],
            allow_credentials=False,  # keys travel in headers; there are no cookies
            max_age=600,
        ),
        Middleware(
            OriginGuard,
            open_server=keys.open,
            allowed_hosts=settings.allowed_hosts,
            cors_origins=settings.cors_origins,
        ),
        Middleware(ApiKeyGuard, keys=keys, allow_open=settings.allow_open),
        Middleware(BodyTimeout, seconds=settings.body_timeout_seconds),
    ]
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers=HANDLERS, lifespan=lifespan
    )


def configure_logging(level: str) -> None:
    """Show the server's own messages at LOG_LEVEL. uvicorn configures only its
    loggers, so without this only warnings would reach the console; where the
    host application has configured logging, that is left alone."""
    log.setLevel(level.upper())
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(name)s: %(message)s"))
        log.addHandler(handler)


def _warn_if_open(settings: Settings) -> None:
    if settings.api_keys or settings.read_api_keys:
        return
    reach = "everyone who can reach it" if settings.allow_open else "this machine only (loopback)"
    log.warning(
        "THE SERVER IS OPEN: no API_KEYS are set, so anyone it serves may upload and delete"
        " every file. It serves %s. Set API_KEYS before exposing it.",
        reach,
    )


@functools.cache
def _default_app() -> Starlette:
    return create_app()


def __getattr__(name: str) -> Starlette:
    # `uvicorn server:app` looks the attribute up; building the app only then
    # keeps `import server` free of side effects.
    if name == "app":
        return _default_app()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    """`python server.py`: start uvicorn, after refusing an address that would
    expose a server without API keys (see access.exposure_problem)."""
    parser = argparse.ArgumentParser(description="Start the Cars Recognizer server.")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--reload", action="store_true", help="restart on code changes")
    args = parser.parse_args(argv)
    settings = Settings()
    problem = exposure_problem(settings, args.host)
    if problem:
        print(problem, file=sys.stderr)
        raise SystemExit(2)
    uvicorn.run(
        "server:app",
        host=args.host,
        port=args.port,
        reload=args.reload,
        log_level=settings.log_level.lower(),
        http=http_protocol.IMPORT_PATH,  # uvicorn's, with a deadline for headers
    )


if __name__ == "__main__":
    main()
