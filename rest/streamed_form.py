"""The files of a multipart upload, written into this process's scratch space
as they arrive.

Starlette's `request.form()` spools each file into a temporary file of its own
(on the loop, a thread hop per 64 KB chunk), after which the upload was copied
again into tmp/ to be hashed: 10 MB written twice and read once. Here the
request is parsed with python-multipart (the parser under Starlette's form) and
each file part of the expected field goes straight into a BlobWriter: written,
hashed and size-checked in a worker thread while the loop reads the next bytes,
in batches of a megabyte. What a file part cannot be (too large, empty) is
recorded beside it, so one bad file in a batch is refused on its own.

Other fields are read past and dropped: the REST routes take only their files.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
from anyio.abc import ObjectReceiveStream
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import Request

from errors import EmptyUpload, InvalidInput, InvalidUpload, TooLarge
from resolvers.uploads import ReceivedFile
from storage.blobs import BlobStore, BlobWriter, TempBlob

if TYPE_CHECKING:  # a typing-only name in python-multipart
    from python_multipart.multipart import MultipartCallbacks

# Data is handed to the writer thread in batches this large: fewer thread hops,
# and at most two batches wait (the loop stops reading the socket meanwhile).
_BATCH = 1024 * 1024
_QUEUED_BATCHES = 2
# Parts besides the files (a stray text field, say) are allowed, a few.
_OTHER_PARTS = 32

T = TypeVar("T")
_Event = tuple[Literal["begin"], str] | tuple[Literal["data"], bytes] | tuple[Literal["end"], None]


@dataclass
class _Parts:
    """python-multipart's callbacks, turned into begin/data/end events for the
    file parts of one field."""

    field_name: str
    max_files: int
    charset: str
    events: list[_Event] = field(default_factory=list)
    files: int = 0
    others: int = 0
    in_file: bool = False
    _headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    _name: bytes = b""
    _value: bytes = b""
    _buffer: bytearray = field(default_factory=bytearray)

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def take(self) -> list[_Event]:
        """The events so far; data is held back until a batch is full."""
        if len(self._buffer) >= _BATCH:
            self._flush()
        events, self.events = self.events, []
        return events

    def _flush(self) -> None:
        if self._buffer:
            self.events.append(("data", bytes(self._buffer)))
            self._buffer.clear()

    def _begin(self) -> None:
        self._headers.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers.append((self._name.lower(), self._value))
        self._name = self._value = b""

    def _headers_finished(self) -> None:
        disposition = next((v for k, v in self._headers if k == b"content-disposition"), b"")
        _, options = parse_options_header(disposition)
        name = options.get(b"name")
        filename = options.get(b"filename")
        if name is None:
            raise InvalidInput(
                "The multipart body could not be read: "
                'each part needs a Content-Disposition "name".'
            )
        self.in_file = filename is not None and _decode(name, self.charset) == self.field_name
        if not self.in_file:
            self.others += 1
            if self.others > _OTHER_PARTS:
                raise InvalidInput(f"The multipart body has more than {_OTHER_PARTS} other parts.")
            return
        self.files += 1
        if self.files > self.max_files:
            # 400, as these routes always answered (Starlette's form parser)
            raise InvalidInput(
                f"Too many files: at most {self.max_files} per request in the field "
                f"'{self.field_name}'."
            )
        self.events.append(("begin", _decode(filename or b"", self.charset)))

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self._buffer += data[start:end]

    def _end(self) -> None:
        if self.in_file:
            self._flush()
            self.events.append(("end", None))
            self.in_file = False


@contextlib.asynccontextmanager
async def streamed_files(
    request: Request, blobs: BlobStore, *, field_name: str, max_files: int, max_size: int
) -> AsyncIterator[list[ReceivedFile]]:
    """The files sent in `field_name`, in order, each in tmp/ or refused. What
    is still in tmp/ when the block ends (files not kept) is removed."""
    received: list[ReceivedFile] = []
    try:
        await _receive(request, blobs, received, field_name, max_files, max_size)
        yield received
    finally:
        for item in received:
            if isinstance(item.blob, TempBlob):
                await anyio.Path(item.blob.path).unlink(missing_ok=True)


async def _receive(
    request: Request,
    blobs: BlobStore,
    received: list[ReceivedFile],
    field_name: str,
    max_files: int,
    max_size: int,
) -> None:
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data":
        return  # no files at all: the route says which field it wanted
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInput("The multipart body could not be read: its boundary is missing.")
    parts = _Parts(field_name, max_files, _charset(params.get(b"charset")))
    parser = MultipartParser(boundary, parts.callbacks())
    send, queue = anyio.create_memory_object_stream[_Event](_QUEUED_BATCHES)
    writing = asyncio.create_task(_write(queue, blobs, received, max_size))
    try:
        async with send:
            async for chunk in request.stream():
                try:
                    parser.write(chunk)
                except FormParserError as exc:
                    raise InvalidInput(
                        f"The multipart body could not be read: {exc} Each part's headers, "
                        "file name included, must stay under 4 KB."
                    ) from None
                for event in parts.take():
                    await send.send(event)
        if parser.state != MultipartState.END:
            raise InvalidInput(
                "The multipart body could not be read: it ended before its closing boundary."
            )
    except anyio.BrokenResourceError:
        await writing  # the writer stopped: its own error says why
        raise
    except BaseException:
        writing.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.shield(writing)  # its partial file is gone before we answer
        queue.close()  # the writer's end, in case it never started
        raise
    await writing


async def _write(
    queue: ObjectReceiveStream[_Event],
    blobs: BlobStore,
    received: list[ReceivedFile],
    max_size: int,
) -> None:
    """Write each file part's batches into its own BlobWriter, off the loop."""
    current: _Incoming | None = None
    try:
        async with queue:
            async for event in queue:
                if event[0] == "begin":
                    current = _Incoming(event[1], await _run(lambda: blobs.writer(limit=max_size)))
                elif event[0] == "data" and current is not None:
                    await current.add(event[1])
                elif event[0] == "end" and current is not None:
                    received.append(await current.finish())
                    current = None
    finally:
        if current is not None:  # the body broke off mid-file
            with anyio.CancelScope(shield=True):
                await _run(current.writer.discard)


class _Incoming:
    """One file part as its batches arrive: written, or refused and dropped."""

    def __init__(self, filename: str, writer: BlobWriter) -> None:
        self.filename = filename
        self.writer = writer
        self.refused: InvalidUpload | None = None

    async def add(self, data: bytes) -> None:
        if self.refused is not None:
            return  # read past: the rest of the body may hold good files
        try:
            await _run(self.writer.write, data)
        except TooLarge as exc:
            self.refused = exc
            await _run(self.writer.discard)

    async def finish(self) -> ReceivedFile:
        if self.refused is not None:
            return ReceivedFile(self.filename, self.refused)
        try:
            return ReceivedFile(self.filename, await _run(self.writer.finish))
        except EmptyUpload as exc:
            return ReceivedFile(self.filename, exc)


async def _run(work: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(work, *args)


def _charset(value: bytes | None) -> str:
    try:
        return codecs.lookup((value or b"utf-8").decode("latin-1")).name
    except LookupError:
        return "latin-1"


def _decode(raw: bytes, charset: str) -> str:
    # As Starlette does: the declared charset, or Latin-1 for bytes that are not.
    try:
        return raw.decode(charset)
    except UnicodeDecodeError:
        return raw.decode("latin-1")
