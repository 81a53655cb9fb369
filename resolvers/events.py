"""What a new subscriber learns first: each subscribed file's current state."""

from __future__ import annotations

from collections.abc import Collection

from events import FileEvent, FileEventKind
from resolvers.files import rows_by_ids
from services import Services


async def current_state(svc: Services, file_ids: Collection[int]) -> list[FileEvent]:
    """One event per file, in id order: its status as the kind (DELETED when
    there is no such file), so a subscriber that (re)connects misses nothing
    that happened before it listened."""
    rows = await rows_by_ids(svc, sorted(file_ids))
    found = []
    for file_id in sorted(file_ids):
        row = rows.get(file_id)
        kind = FileEventKind(row.status.value) if row is not None else FileEventKind.DELETED
        found.append(FileEvent(kind, file_id, row))
    return found
