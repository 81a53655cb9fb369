"""Live file events over a GraphQL subscription (graphql-transport-ws at /graphql)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry import Info

import events
from errors import InvalidInput
from resolvers.events import current_state
from resolvers.ids import global_id, parse_file_id
from schema.context import Context
from schema.files import File

# A page watching a big batch subscribes to its ids; more than this is better
# served by subscribing to everything (no `ids`).
MAX_SUBSCRIBED_IDS = 1000

FileEventKind = strawberry.enum(
    events.FileEventKind,
    description="What happened to a file. QUEUED: a recognition job waits for it. PENDING: "
    "not queued, to be recognized again (reprocessed, or the recognizer was unavailable). "
    "A subscription to `ids` starts with one event per file giving its current state "
    "(DELETED for a file that is gone).",
)


@strawberry.type(description="A file's new state, sent when something happens to it.")
class FileEvent:
    kind: FileEventKind = strawberry.field(  # type: ignore[valid-type]
        description="What happened: the file's new status, or DELETED."
    )
    id: strawberry.ID = strawberry.field(description="The file's global id.")
    database_id: int = strawberry.field(description="The file's integer id, as REST uses it.")
    file: File | None = strawberry.field(
        description="The file as it is after the event; null once deleted."
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every upload, queueing, start, finish, failure, reprocess and delete, as it "
        "happens, in whichever server process or worker it happened; only those of `ids` when "
        "given. With `ids`, the first events are the files' current states (kind = status), "
        "so a client that subscribes again after a dropped connection misses nothing. "
        "Subscribe before starting the work you want to watch: events are not replayed, and a "
        "mutation's answer may arrive before its last events. "
        "Recognizing a file that already has the current model's results sends DONE again. A "
        "client that reads too slowly (1,000 events behind) gets FELL_BEHIND and should "
        "subscribe again and re-read the files."
    )
    async def file_events(
        self, info: Info[Context, None], ids: list[strawberry.ID] | None = None
    ) -> AsyncGenerator[FileEvent, None]:
        wanted = None
        if ids is not None:
            if len(ids) > MAX_SUBSCRIBED_IDS:
                raise InvalidInput(
                    f"At most {MAX_SUBSCRIBED_IDS} ids per subscription; got {len(ids)}."
                )
            wanted = {parse_file_id(value) for value in ids}
        services = info.context.services
        async with services.events.listen(wanted) as listener:
            # Listening already: what changes after this read arrives as events.
            for event in await current_state(services, wanted or ()):
                yield _event(event)
            while True:
                event = await listener.next()
                # One context serves the whole connection: forget what its loader
                # cached, so predictions are read as they are now.
                info.context.predictions.clear_all()
                yield _event(event)


def _event(event: events.FileEvent) -> FileEvent:
    deleted = event.kind is events.FileEventKind.DELETED or event.row is None
    return FileEvent(
        kind=event.kind,
        id=strawberry.ID(global_id("File", event.file_id)),
        database_id=event.file_id,
        file=None if deleted or event.row is None else File.from_row(event.row),
    )
