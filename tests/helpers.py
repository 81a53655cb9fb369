"""Small steps many tests share."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.applications import Starlette
from starlette.testclient import TestClient

from db.files import get_file, store_predictions
from db.models import FileStatus, PredictionRow
from db.types import utcnow
from recognition.labels import parse_label
from services import Services
from tests import images


def upload_bytes(client: TestClient, name: str, data: bytes) -> int:
    """Upload `data` as `name` over REST; its integer id."""
    response = client.post("/upload/", files={"file": (name, data, "application/octet-stream")})
    assert response.status_code == 200, response.text
    return int(response.json()["files"][0]["id"])


def upload_jpeg(client: TestClient, name: str = "car.jpg", **kwargs: Any) -> dict[str, Any]:
    response = client.post("/upload/", files={"file": (name, images.jpeg(**kwargs), "image/jpeg")})
    assert response.status_code == 200, response.text
    meta: dict[str, Any] = response.json()["files"][0]
    return meta


def services(client: TestClient) -> Services:
    app = cast(Starlette, client.app)
    return cast(Services, app.state.services)


def record_predictions(
    client: TestClient,
    file_id: int,
    labels: list[tuple[str, float]],
    *,
    inference_ms: float | None = None,
) -> None:
    """Store recognition results for a file directly in its database, as the
    recognizer would (recognition itself is tested with the recognizer)."""
    svc = services(client)

    async def write() -> None:
        async with svc.session() as session:
            row = await get_file(session, file_id=file_id)
            assert row is not None
            row.status = FileStatus.DONE
            row.processed_at = utcnow()
            row.inference_ms = inference_ms
            predictions = []
            for label, confidence in labels:
                parts = parse_label(label)
                predictions.append(
                    PredictionRow(
                        file_id=file_id,
                        rank=0,
                        label=label,
                        confidence=confidence,
                        make=parts.make,
                        model=parts.model,
                        body_type=parts.body_type,
                        year=parts.year,
                    )
                )
            await store_predictions(session, row=row, predictions=predictions)
            await session.commit()

    portal_run(client, write)


def record_failure(client: TestClient, file_id: int, reason: str) -> None:
    set_status(client, file_id, FileStatus.FAILED, error=reason)


def set_status(
    client: TestClient, file_id: int, status: FileStatus, *, error: str | None = None
) -> None:
    """Put a file in a state directly in its database (a failure, a crash mid-recognition)."""
    svc = services(client)

    async def write() -> None:
        async with svc.session() as session:
            row = await get_file(session, file_id=file_id)
            assert row is not None
            row.status = status
            row.error = error
            session.add(row)
            await session.commit()

    portal_run(client, write)


def portal_run(client: TestClient, func: Any) -> Any:
    """Run a coroutine function on the app's own event loop (its engine and
    connections belong to that loop)."""
    portal = client.portal
    if portal is None:  # pragma: no cover
        return asyncio.run(func())
    return portal.call(func)


def gql(client: TestClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def gql_upload(
    client: TestClient,
    query: str,
    files: dict[str, tuple[str, bytes]],
    variables: dict[str, Any],
    mapping: dict[str, list[str]],
    headers: dict[str, str] | None = None,
) -> Any:
    """A request as the GraphQL multipart request spec lays it out: an
    `operations` field, a `map` field, then the files."""
    import json

    return client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps(mapping),
        },
        files={
            key: (name, data, "application/octet-stream") for key, (name, data) in files.items()
        },
        headers={"Apollo-Require-Preflight": "true"} if headers is None else headers,
    )
