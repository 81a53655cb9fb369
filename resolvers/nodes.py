"""Objects by their global ids, for `node(id:)` and `nodes(ids:)`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from db.models import FileRow
from resolvers.files import check_ids, rows_by_ids
from resolvers.ids import MAX_ID, small_number
from services import Services


def _file_number(global_id: str) -> int | None:
    """The database id inside the global id of a File (base64 of "File:7");
    None for anything else: Relay's `node` answers null for an unknown id."""
    try:
        decoded = base64.b64decode(global_id, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, number = decoded.partition(":")
    if kind != "File" or not number.isascii() or not number.isdigit():
        return None
    found = small_number(number)  # 4,300 digits and more are past int()
    return found if found is not None and 1 <= found <= MAX_ID else None


async def get_nodes(svc: Services, global_ids: Sequence[str]) -> list[FileRow | None]:
    """One object (a File, the only type with a global id) or None per id, in
    order, read in one query."""
    check_ids(global_ids, limit=svc.settings.max_batch_ids)
    numbers = [_file_number(value) for value in global_ids]
    rows = await rows_by_ids(svc, [n for n in numbers if n is not None])
    return [rows.get(n) if n is not None else None for n in numbers]
