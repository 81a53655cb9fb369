"""What every GraphQL resolver gets as `info.context`, made fresh per request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from access import Role
from db.models import PredictionRow
from db.vehicles import StoredVehicle
from middleware.api_keys import ROLE
from resolvers import files, vehicles
from services import Services


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    services: Services
    # Per request, never shared: a DataLoader caches what it loaded.
    predictions: DataLoader[int, list[PredictionRow]]
    vehicles: DataLoader[int, list[StoredVehicle]]
    # What the API key allows (middleware/api_keys.py); a websocket that sent its
    # key in `connection_init` gets it then (server.py).
    role: Role | None = None
    connection_params: object = None


def make_context(request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
    services: Services = request.state.services

    async def load_predictions(file_ids: Sequence[int]) -> list[list[PredictionRow]]:
        found = await files.predictions(services, file_ids)
        return [found.get(file_id, []) for file_id in file_ids]

    async def load_vehicles(file_ids: Sequence[int]) -> list[list[StoredVehicle]]:
        found = await vehicles.vehicles(services, file_ids)
        return [found.get(file_id, []) for file_id in file_ids]

    return Context(
        request=request,
        response=response,
        services=services,
        predictions=DataLoader(load_fn=load_predictions),
        vehicles=DataLoader(load_fn=load_vehicles),
        role=request.scope.get(ROLE),
    )
