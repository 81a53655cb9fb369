"""`fileEvents` over graphql-transport-ws, with a real websocket client against a
real server process, and the event bus's bound."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from db.models import FileRow, FileStatus
from errors import FellBehind
from events import EventBus, FileEventKind
from testkit.servers import LiveServer, server
from tests import images

KEY = "subscriptions-key-0123456789"
EVENTS = """
subscription ($ids: [ID!]) {
  fileEvents(ids: $ids) {
    kind databaseId id
    file { status error filename predictions { rank label } }
  }
}"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("subscriptions")
    with server(folder, HF_MODEL=str(tiny_model), API_KEYS=KEY, GRAPHQL_MAX_SUBSCRIPTIONS="3") as s:
        yield s


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def _upload(live: LiveServer, name: str, color: tuple[int, int, int]) -> int:
    answer = httpx.post(
        f"{live.url}/upload/",
        files={"file": (name, images.jpeg(color=color), "image/jpeg")},
        headers=_headers(),
    )
    answer.raise_for_status()
    file_id: int = answer.json()["files"][0]["id"]
    return file_id


def _gql(live: LiveServer, query: str, variables: dict[str, Any] | None = None) -> Any:
    answer = httpx.post(
        f"{live.url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=_headers(),
        timeout=60,
    )
    answer.raise_for_status()
    return answer.json()


@asynccontextmanager
async def _connect(live: LiveServer, payload: dict[str, Any]) -> AsyncIterator[ClientConnection]:
    url = live.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        yield ws


async def _subscribe(ws: ClientConnection, op: str, ids: list[int] | None = None) -> None:
    variables = {"ids": [str(i) for i in ids] if ids is not None else None}
    message = {"id": op, "type": "subscribe", "payload": {"query": EVENTS, "variables": variables}}
    await ws.send(json.dumps(message))


async def _next(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        return dict(message)


async def _events(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < count:
        message = await _next(ws)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        found.append(message["payload"]["data"]["fileEvents"])
    return found


def test_every_change_to_a_file_arrives_in_order(live: LiveServer) -> None:
    async def scenario() -> None:
        async with _connect(live, {"apiKey": KEY}) as ws:
            await _subscribe(ws, "all")
            # The server registers the subscription once it has read it: an event
            # arriving proves it is listening.
            probe = await asyncio.to_thread(_upload, live, "probe.jpg", (7, 7, 7))
            assert (await _events(ws, 1))[0]["databaseId"] == probe
            ids = [
                await asyncio.to_thread(_upload, live, f"car{i}.jpg", (40 * i, 90, 20))
                for i in range(3)
            ]
            uploaded = await _events(ws, 3)
            assert [e["kind"] for e in uploaded] == ["UPLOADED"] * 3
            assert [e["databaseId"] for e in uploaded] == ids
            assert all(e["file"]["status"] == "PENDING" for e in uploaded)

            inferred = await asyncio.to_thread(
                _gql,
                live,
                "mutation ($ids: [ID!]!) { inferFiles(ids: $ids) { files { databaseId } } }",
                {"ids": [str(i) for i in ids]},
            )
            assert len(inferred["data"]["inferFiles"]["files"]) == 3
            progress = await _events(ws, 6)  # PROCESSING then DONE for each, interleaved
            for file_id in ids:
                mine = [e for e in progress if e["databaseId"] == file_id]
                assert [e["kind"] for e in mine] == ["PROCESSING", "DONE"]
                done = mine[1]["file"]
                assert done["status"] == "DONE"
                assert len(done["predictions"]) == 5  # read fresh, not from a stale cache

            # the DONE events carry what GraphQL then reports
            listed = await asyncio.to_thread(
                _gql,
                live,
                "{ files(first: 10) { edges { node { databaseId predictions { label } } } } }",
            )
            by_id = {
                edge["node"]["databaseId"]: [p["label"] for p in edge["node"]["predictions"]]
                for edge in listed["data"]["files"]["edges"]
            }
            for event in progress:
                if event["kind"] == "DONE":
                    labels = [p["label"] for p in event["file"]["predictions"]]
                    assert labels == by_id[event["databaseId"]]

            await asyncio.to_thread(
                httpx.post, f"{live.url}/files/{ids[0]}/reprocess", headers=_headers()
            )
            await asyncio.to_thread(httpx.delete, f"{live.url}/files/{ids[1]}", headers=_headers())
            reprocessed, deleted = await _events(ws, 2)
            assert reprocessed["kind"] == "PENDING"
            assert reprocessed["file"]["predictions"] == []
            assert deleted == {
                "kind": "DELETED",
                "databaseId": ids[1],
                "id": deleted["id"],
                "file": None,
            }
            # recognizing a file that already has this model's results changes
            # nothing, and still says it is done (progress counts on it)
            await asyncio.to_thread(
                httpx.post, f"{live.url}/inference/{ids[2]}", headers=_headers()
            )
            [again] = await _events(ws, 1)
            assert (again["kind"], again["databaseId"]) == ("DONE", ids[2])

    asyncio.run(scenario())


def test_a_subscription_to_some_ids_hears_only_those(live: LiveServer) -> None:
    async def scenario() -> None:
        watched = await asyncio.to_thread(_upload, live, "watched.jpg", (1, 2, 3))
        async with _connect(live, {"Authorization": f"Bearer {KEY}"}) as ws:
            await _subscribe(ws, "some", [watched])
            # First the file's current state: a client that subscribes again
            # after a dropped connection misses nothing.
            [current] = await _events(ws, 1)
            assert (current["kind"], current["databaseId"]) == ("PENDING", watched)
            assert current["file"]["filename"] == "watched.jpg"
            await asyncio.to_thread(
                httpx.post, f"{live.url}/files/{watched}/reprocess", headers=_headers()
            )
            [reprocessed] = await _events(ws, 1)
            assert (reprocessed["kind"], reprocessed["databaseId"]) == ("PENDING", watched)
            other = await asyncio.to_thread(_upload, live, "other.jpg", (3, 2, 1))
            await asyncio.to_thread(httpx.delete, f"{live.url}/files/{other}", headers=_headers())
            await asyncio.to_thread(httpx.delete, f"{live.url}/files/{watched}", headers=_headers())
            [event] = await _events(ws, 1)
            assert (event["kind"], event["databaseId"]) == ("DELETED", watched)

    asyncio.run(scenario())


def test_a_subscription_starts_with_each_files_current_state(live: LiveServer) -> None:
    async def scenario() -> None:
        done = await asyncio.to_thread(_upload, live, "done.jpg", (9, 60, 9))
        gone = await asyncio.to_thread(_upload, live, "gone.jpg", (60, 9, 9))
        await asyncio.to_thread(httpx.post, f"{live.url}/inference/{done}", headers=_headers())
        await asyncio.to_thread(httpx.delete, f"{live.url}/files/{gone}", headers=_headers())
        async with _connect(live, {"apiKey": KEY}) as ws:
            await _subscribe(ws, "state", [gone, done])
            first = await _events(ws, 2)  # in id order
            assert [(e["kind"], e["databaseId"]) for e in first] == [
                ("DONE", done),
                ("DELETED", gone),
            ]
            assert len(first[0]["file"]["predictions"]) == 5
            assert first[1]["file"] is None

    asyncio.run(scenario())


def test_subscriptions_per_connection_are_bounded_and_bad_ids_refused(live: LiveServer) -> None:
    async def scenario() -> None:
        async with _connect(live, {"apiKey": KEY}) as ws:
            for op in ("a", "b", "c"):  # GRAPHQL_MAX_SUBSCRIPTIONS=3 on this server
                await _subscribe(ws, op)
            await _subscribe(ws, "d")
            refused = await _next(ws)
            assert refused["type"] == "error"
            assert refused["id"] == "d"
            assert "limit" in refused["payload"][0]["message"].lower()
            # messages on one connection are handled in order: "a" is gone first
            await ws.send(json.dumps({"id": "a", "type": "complete"}))
            bad = {"query": EVENTS, "variables": {"ids": ["nope"]}}
            await ws.send(json.dumps({"id": "e", "type": "subscribe", "payload": bad}))
            answer = await _next(ws)
            assert answer["type"] == "next"
            assert (
                answer["payload"]["errors"][0]["message"]
                == "No file with id 'nope': ids are positive integers."
            )

    asyncio.run(scenario())


def test_a_subscription_to_too_many_ids_is_refused(live: LiveServer) -> None:
    async def scenario() -> None:
        async with _connect(live, {"apiKey": KEY}) as ws:
            await _subscribe(ws, "big", list(range(1, 1002)))
            answer = await _next(ws)
            assert answer["payload"]["errors"][0]["message"] == (
                "At most 1000 ids per subscription; got 1001."
            )
            assert answer["payload"]["errors"][0]["extensions"]["code"] == "INVALID_INPUT"

    asyncio.run(scenario())


def test_a_websocket_without_a_key_is_refused(live: LiveServer) -> None:
    async def scenario() -> None:
        url = live.url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403

    asyncio.run(scenario())


def _row(file_id: int) -> FileRow:
    return FileRow(
        id=file_id,
        filename="a.jpg",
        stored_key="k",
        sha256="0" * 64,
        mime_type="image/jpeg",
        size=1,
        width=1,
        height=1,
        status=FileStatus.PENDING,
    )


def test_a_listener_that_falls_behind_is_told_rather_than_silently_skipped() -> None:
    async def scenario() -> None:
        bus = EventBus(capacity=5)
        async with bus.listen() as listener:
            for i in range(1, 9):
                bus.publish(FileEventKind.UPLOADED, _row(i))
            got = [(await listener.next()).file_id for _ in range(5)]
            assert got == [1, 2, 3, 4, 5]
            with pytest.raises(FellBehind):
                await listener.next()
        assert bus.listeners == 0

    asyncio.run(scenario())
