"""The REST routes of the original service (docs/rest-compat.md): thin adapters that
parse HTTP, call a resolver and shape the JSON."""

from __future__ import annotations

from starlette.routing import BaseRoute

from config import Settings
from rest import catalog, docs, files, health, home, inference, uploads, visualization


def routes(settings: Settings) -> list[BaseRoute]:
    return [
        *uploads.routes(settings),
        *inference.routes(settings),
        *files.routes(),
        *health.routes(),
        *docs.routes(),
        *home.routes(),
        *visualization.routes(),
        *catalog.routes(settings),
    ]
