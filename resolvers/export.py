"""The CSV export: the original's four columns first, streamed in slices so that
memory stays flat however many files there are."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence

from db import files as db_files
from db.models import FileRow, FileStatus, PredictionRow
from db.predictions import predictions_for_files
from db.stats import count_by_status
from errors import InvalidInput, NotFound
from resolvers.text import check_text
from services import Services

COLUMNS = (
    # the original service's columns, in its order
    "filename", "top_prediction", "confidence", "all_predictions",
    # ours
    "make", "model", "body_type", "year", "model_id", "status", "uploaded_at",
)  # fmt: skip
SLICE = 500
# A cell starting with one of these is run as a formula by spreadsheets (CSV
# injection); a leading apostrophe makes it plain text again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def parse_status(value: str | None) -> FileStatus | None:
    """`done` by default (the original exported results); `all` for every file."""
    if value is None or value == "":
        return FileStatus.DONE
    if value == "all":
        return None
    try:
        return FileStatus(value)
    except ValueError:
        allowed = ", ".join([*(s.value for s in FileStatus), "all"])
        raise InvalidInput(f"status must be one of {allowed}; got {value!r}.") from None


async def csv_export(
    svc: Services, *, status: FileStatus | None, make: str | None
) -> AsyncIterator[str]:
    """Check there is something to export, then return the CSV as text chunks.
    The check happens here, before the first chunk, so a 404 is still possible."""
    check_text("make", make)  # a NUL would fail the query mid-answer on PostgreSQL
    async with svc.session() as session:
        if (await count_by_status(session))[FileStatus.DONE] == 0:
            raise NotFound("Nothing has been recognized yet, so there are no results to export.")
    return _chunks(svc, status=status, make=make or None)


async def _chunks(
    svc: Services, *, status: FileStatus | None, make: str | None
) -> AsyncIterator[str]:
    yield _csv([COLUMNS])
    after_id = 0
    while True:
        # A short session per slice: no connection is held while the client reads.
        async with svc.session() as session:
            rows = await db_files.list_files(
                session, status=status, make=make, after_id=after_id, limit=SLICE
            )
            found = await predictions_for_files(session, file_ids=[r.id for r in rows if r.id])
        if not rows:
            return
        yield _csv(_line(row, found.get(row.id or 0, [])) for row in rows)
        after_id = rows[-1].id or after_id


def _line(row: FileRow, predictions: Sequence[PredictionRow]) -> list[object]:
    top = predictions[0] if predictions else None
    everything = "; ".join(f"{p.label} ({p.confidence:.4f})" for p in predictions)
    return [
        row.filename,
        top.label if top else "",
        f"{top.confidence:.4f}" if top else "",
        everything,
        (top.make if top else None) or "",
        (top.model if top else None) or "",
        (top.body_type if top else None) or "",
        (top.year if top else None) or "",
        row.model_id or "",
        row.status.value,
        row.uploaded_at.isoformat(),
    ]


def _csv(lines: object) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; every spreadsheet reads it
    for line in lines:  # type: ignore[attr-defined]
        writer.writerow([_neutralise(cell) for cell in line])
    return out.getvalue()


def _neutralise(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell
