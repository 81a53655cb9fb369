"""A real HTTP server on loopback that speaks the Hugging Face Inference API,
answering each request as the test scripts it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Writer = asyncio.StreamWriter
Behaviour = Callable[[Writer], Awaitable[None]]

GUESSES = [
    {"label": "BMW M3 Coupe 2012", "score": 0.81},
    {"label": "BMW M5 Sedan 2010", "score": 0.09},
    {"label": "Audi S5 Coupe 2012", "score": 0.05},
    {"label": "Land Rover Range Rover SUV 2012", "score": 0.03},
    {"label": "smart fortwo Convertible 2012", "score": 0.02},
]


def answer(
    status: int, body: Any, *, headers: dict[str, str] | None = None, delay: float = 0
) -> Behaviour:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    async def respond(writer: Writer) -> None:
        if delay:
            await asyncio.sleep(delay)
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(raw)}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        writer.write(head.encode() + b"\r\n" + raw)
        await writer.drain()

    return respond


def ok(guesses: list[dict[str, Any]] | None = None, *, delay: float = 0) -> Behaviour:
    return answer(200, guesses or GUESSES, delay=delay)


def drop() -> Behaviour:
    async def hang_up(writer: Writer) -> None:
        writer.transport.abort()  # no answer at all: the connection just ends

    return hang_up


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.monotonic() when it arrived


@dataclass
class FakeHuggingFace:
    script: deque[Behaviour] = field(default_factory=deque)
    default: Behaviour = field(default_factory=ok)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    in_flight: int = 0
    most_in_flight: int = 0

    def then(self, *behaviours: Behaviour) -> FakeHuggingFace:
        self.script.extend(behaviours)
        return self

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:  # answers still being delayed, for instance
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            request_line = (await reader.readline()).decode()
            headers: dict[str, str] = {}
            while line := (await reader.readline()).decode().strip():
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(
                Request(
                    request_line.split()[1], headers, json.loads(body or b"{}"), time.monotonic()
                )
            )
            behaviour = self.script.popleft() if self.script else self.default
            await behaviour(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.in_flight -= 1
            writer.close()
