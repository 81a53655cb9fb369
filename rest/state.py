"""What a REST route reads from its request: the shared services that the
app's lifespan opened (server.py), under one typed name for every route."""

from __future__ import annotations

from starlette.requests import Request

from services import Services


def services_of(request: Request) -> Services:
    services: Services = request.state.services
    return services
