"""The data of the HTML report: statistics plus one page of the latest files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from db import files as db_files
from db.models import FileRow, PredictionRow
from db.predictions import predictions_for_files
from errors import InvalidInput
from resolvers.stats import Stats, collection_stats
from services import Services


@dataclass(frozen=True)
class ReportPage:
    stats: Stats
    files: Sequence[FileRow]
    predictions: dict[int, list[PredictionRow]]
    page: int
    pages: int
    page_size: int


async def report_page(svc: Services, *, page: int) -> ReportPage:
    if page < 1:
        raise InvalidInput("page must be 1 or more.")
    size = svc.settings.report_page_size
    stats = await collection_stats(svc)
    pages = max(1, -(-stats.total_files // size))
    async with svc.session() as session:
        rows = await db_files.list_files(
            session, newest_first=True, offset=(min(page, pages) - 1) * size, limit=size
        )
        found = await predictions_for_files(session, file_ids=[r.id for r in rows if r.id])
    return ReportPage(
        stats=stats,
        files=rows,
        predictions=found,
        page=min(page, pages),
        pages=pages,
        page_size=size,
    )
