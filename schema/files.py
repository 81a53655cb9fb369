"""Files and their predictions: the types, the queries, and the mutations that
change a file once it is stored."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import Info

from db import models as db_models
from db.models import FileRow, PredictionRow, VehiclePredictionRow
from errors import NotFound
from resolvers import files
from resolvers.ids import encode_cursor, global_id
from schema.context import Context
from schema.errors import UserError, split_outcomes
from schema.relay import Node
from schema.vehicles import Box, Color, Vehicle, VehicleKind

FileStatus = strawberry.enum(
    db_models.FileStatus,
    name="FileStatus",
    description="Where a file is in recognition: pending, processing, done or failed.",
)


@strawberry.enum(description="The order of a list of files.")
class FileOrder(enum.Enum):
    NEWEST_FIRST = "newest_first"
    OLDEST_FIRST = "oldest_first"


@strawberry.enum(description="What the photo shows, as the recognizer judged it.")
class Verdict(enum.Enum):
    CAR = "car"
    NOT_CAR = "not_car"
    UNSURE = "unsure"


@strawberry.type(description="One guess of what car the photo shows.")
class Prediction:
    rank: int = strawberry.field(description="1 for the most confident guess.")
    label: str = strawberry.field(description='The class name, e.g. "BMW M3 Coupe 2012".')
    confidence: float = strawberry.field(description="From 0 to 1.")
    make: str | None = strawberry.field(
        description='The manufacturer, e.g. "BMW"; null when the label names none.'
    )
    model: str | None = strawberry.field(
        description='The model without make or year, e.g. "M3"; null when unknown.'
    )
    body_type: str | None = strawberry.field(
        description='e.g. "Coupe", "SUV"; null when the label does not say.'
    )
    year: int | None = strawberry.field(
        description="The model year the label names; null when it names none."
    )

    @classmethod
    def from_row(cls, p: PredictionRow | VehiclePredictionRow) -> Prediction:
        return cls(
            rank=p.rank,
            label=p.label,
            confidence=p.confidence,
            make=p.make,
            model=p.model,
            body_type=p.body_type,
            year=p.year,
        )


@strawberry.type(description="An uploaded photo.")
class File(Node):
    database_id: int = strawberry.field(description="The integer id the REST routes use.")
    filename: str = strawberry.field(description="The client's file name, cleaned for display.")
    mime_type: str = strawberry.field(description="Detected from the content, not the name.")
    size: int = strawberry.field(description="In bytes.")
    width: int = strawberry.field(description="In pixels, as displayed (EXIF orientation applied).")
    height: int = strawberry.field(description="In pixels, as displayed.")
    sha256: str = strawberry.field(
        description="The SHA-256 of the stored bytes, 64 lowercase hex digits."
    )
    uploaded_at: datetime = strawberry.field(
        description="When the server stored the file (ISO 8601, UTC)."
    )
    status: FileStatus = strawberry.field(  # type: ignore[valid-type]
        description="Where recognition stands; poll it or subscribe to `fileEvents`."
    )
    error: str | None = strawberry.field(description="Why recognition failed, if it did.")
    processed_at: datetime | None = strawberry.field(
        description="When recognition last finished (ISO 8601, UTC); null until then."
    )
    model_id: str | None = strawberry.field(description="The model that made the predictions.")
    recognizer: str | None = strawberry.field(
        description="The backend that ran it: `local`, `huggingface` or `zero-shot`."
    )
    inference_ms: float | None = strawberry.field(
        description="How long recognizing this file took, in milliseconds."
    )
    color: Color | None = strawberry.field(
        description="The colour of what `predictions` describe: the main vehicle, or the "
        "whole photo. Named by the zero-shot model where it is loaded, else from the pixels."
    )
    detector: str | None = strawberry.field(
        description="The detection model that looked for vehicles; null when none ran. "
        "With a detector and no `vehicles`, none was found and the predictions are for "
        "the whole photo."
    )
    verdict: Verdict | None = strawberry.field(
        default=None,
        description="Once done: CAR, NOT_CAR (no vehicle in the photo) or UNSURE. The "
        "predictions are kept either way; unless CAR they are guesses, not a finding.",
    )

    @strawberry.field(description="A global id, for `file(id:)`, `node(id:)` and client caches.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(global_id("File", self.database_id))

    @strawberry.field(
        description="Where to download the image itself: absolute when the server's "
        "PUBLIC_BASE_URL is set, else a path on this server."
    )
    def image_url(self, info: Info[Context, None]) -> str:
        return _public(info, f"/files/{self.database_id}/image")

    @strawberry.field(
        description="A small upright JPEG preview: absolute when the server's PUBLIC_BASE_URL "
        "is set, else a path on this server."
    )
    def thumbnail_url(self, info: Info[Context, None]) -> str:
        return _public(info, f"/files/{self.database_id}/thumbnail")

    @strawberry.field(description="What the recognizer saw, most confident first.")
    async def predictions(self, info: Info[Context, None]) -> list[Prediction]:
        rows = await info.context.predictions.load(self.database_id)
        return [Prediction.from_row(p) for p in rows]

    @strawberry.field(description="The most confident prediction, if any.")
    async def top_prediction(self, info: Info[Context, None]) -> Prediction | None:
        ranked = await self.predictions(info)
        return ranked[0] if ranked else None

    @strawberry.field(
        description="Each vehicle the detector (DETECTOR) found, the main one (the largest) "
        "first; `predictions` and `color` are the main one's. Empty when no detector ran, "
        "or when it found none: then they are the whole photo's (see `detector`)."
    )
    async def vehicles(self, info: Info[Context, None]) -> list[Vehicle]:
        stored = await info.context.vehicles.load(self.database_id)
        return [
            Vehicle(
                box=Box(x=v.row.x, y=v.row.y, width=v.row.width, height=v.row.height),
                score=v.row.score,
                kind=VehicleKind(v.row.kind),
                predictions=[Prediction.from_row(p) for p in v.predictions],
                color=Color.of(v.row.color, v.row.color_confidence),
            )
            for v in stored
        ]

    @classmethod
    def from_row(cls, row: FileRow) -> File:
        assert row.id is not None
        return cls(
            database_id=row.id,
            filename=row.filename,
            mime_type=row.mime_type,
            size=row.size,
            width=row.width,
            height=row.height,
            sha256=row.sha256,
            uploaded_at=row.uploaded_at,
            status=row.status,
            error=row.error,
            processed_at=row.processed_at,
            model_id=row.model_id,
            recognizer=row.backend,
            inference_ms=row.inference_ms,
            color=Color.of(row.color, row.color_confidence),
            detector=row.detector,
            verdict=Verdict(row.verdict) if row.verdict else None,
        )


def _public(info: Info[Context, None], path: str) -> str:
    base = info.context.services.settings.public_base_url
    return f"{base}{path}" if base else path


@strawberry.type(description="A file in a page, with its cursor.")
class FileEdge:
    cursor: str = strawberry.field(
        description="Opaque; pass it as `after` to get the files that follow this one."
    )
    node: File = strawberry.field(description="The file.")


@strawberry.type(description="Where a page sits in the whole list (Relay cursor pagination).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether more items follow; ask again with `after: endCursor`."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether items come before this page (true when `after` was given)."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, for the next page's `after`; null on an empty page."
    )


@strawberry.type(description="A page of files.")
class FileConnection:
    edges: list[FileEdge] = strawberry.field(
        description="The files of this page with their cursors, in the order asked."
    )
    page_info: PageInfo = strawberry.field(description="How to fetch the next page.")
    filter_status: strawberry.Private[db_models.FileStatus | None]
    filter_search: strawberry.Private[str | None]
    filter_make: strawberry.Private[str | None]

    @strawberry.field(description="The files of this page (the edges' nodes).")
    def nodes(self) -> list[File]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many files match the filters, on all pages.")
    async def total_count(self, info: Info[Context, None]) -> int:
        return await files.count_files(
            info.context.services,
            status=self.filter_status,
            search=self.filter_search,
            make=self.filter_make,
        )


@strawberry.type(description="The result of `deleteFile`.")
class DeleteFilePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        description="The global id of the file deleted."
    )
    errors: list[UserError] = strawberry.field(
        description="Empty on success; else why nothing was deleted (NOT_FOUND)."
    )


@strawberry.type(description="The result of `deleteFiles`.")
class DeleteFilesPayload:
    deleted_ids: list[strawberry.ID] = strawberry.field(
        description="The global ids of the files deleted, in the order asked."
    )
    errors: list[UserError] = strawberry.field(
        description="One entry per id not deleted, with its index in the list sent."
    )


@strawberry.type(description="The result of `reprocessFile`.")
class ReprocessFilePayload:
    file: File | None = strawberry.field(
        description="The file, now PENDING or QUEUED for recognition; null on error."
    )
    errors: list[UserError] = strawberry.field(
        description="Empty on success; else why the file was not reprocessed."
    )


@strawberry.type
class FileQueries:
    @strawberry.field(description="Uploaded files, a page at a time (at most 100 per page).")
    async def files(
        self,
        info: Info[Context, None],
        first: int = 20,
        after: str | None = None,
        status: FileStatus | None = None,  # type: ignore[valid-type]
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Part of the file name, any case, taken literally; at most"
                f" {files.MAX_SEARCH_LENGTH} characters (longer is INVALID_INPUT)."
            ),
        ] = None,
        make: Annotated[
            str | None,
            strawberry.argument(
                description="Only files whose best guess is of this make, any case."
            ),
        ] = None,
        order: FileOrder = FileOrder.NEWEST_FIRST,
    ) -> FileConnection:
        page = await files.list_files(
            info.context.services,
            first=first,
            after=after,
            status=status,
            search=search,
            make=make,
            newest_first=order is FileOrder.NEWEST_FIRST,
        )
        edges = [
            FileEdge(cursor=encode_cursor(r.id or 0), node=File.from_row(r)) for r in page.rows
        ]
        return FileConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            filter_status=status,
            filter_search=search,
            filter_make=make,
        )

    @strawberry.field(
        description="One file by its global id or database id; null if there is none."
    )
    async def file(self, info: Info[Context, None], id: strawberry.ID) -> File | None:
        try:
            return File.from_row(await files.get_file(info.context.services, id))
        except NotFound:
            return None


@strawberry.type
class FileMutations:
    @strawberry.mutation(description="Delete a file; its image goes once no other file shares it.")
    async def delete_file(self, info: Info[Context, None], id: strawberry.ID) -> DeleteFilePayload:
        try:
            row = await files.delete_file(info.context.services, id)
        except NotFound as exc:
            return DeleteFilePayload(deleted_id=None, errors=[UserError.of(exc, input=id)])
        return DeleteFilePayload(
            deleted_id=strawberry.ID(global_id("File", row.id or 0)), errors=[]
        )

    @strawberry.mutation(description="Delete several files; each id succeeds or fails on its own.")
    async def delete_files(
        self, info: Info[Context, None], ids: list[strawberry.ID]
    ) -> DeleteFilesPayload:
        services = info.context.services
        files.check_ids(ids, limit=services.settings.max_batch_ids)
        outcomes = await files.delete_files(services, ids)
        deleted, problems = split_outcomes(
            outcomes, ids, lambda row: strawberry.ID(global_id("File", row.id or 0))
        )
        return DeleteFilesPayload(deleted_ids=deleted, errors=problems)

    @strawberry.mutation(description="Clear a file's results and mark it pending again.")
    async def reprocess_file(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> ReprocessFilePayload:
        try:
            row = await files.reprocess_file(info.context.services, id)
        except NotFound as exc:
            return ReprocessFilePayload(file=None, errors=[UserError.of(exc, input=id)])
        return ReprocessFilePayload(file=File.from_row(row), errors=[])
