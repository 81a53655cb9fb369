"""Recognition mutations."""

from __future__ import annotations

import strawberry
from strawberry import Info

from errors import NotFound, RecognizerUnavailable, UpstreamError
from resolvers import inference
from schema.context import Context
from schema.errors import UserError, split_outcomes
from schema.files import File


@strawberry.type
class InferFilePayload:
    file: File | None = strawberry.field(description="The file, with its predictions when done.")
    errors: list[UserError]


@strawberry.type
class InferFilesPayload:
    files: list[File] = strawberry.field(description="The files recognized, in the order asked.")
    errors: list[UserError] = strawberry.field(description="One entry per id that failed.")


@strawberry.type
class InferenceMutations:
    @strawberry.mutation(
        description="Recognize the car in one file. RECOGNIZER_UNAVAILABLE says how to fix the "
        "recognizer (the file stays PENDING); UPSTREAM_ERROR means the remote recognizer failed "
        "(the file is FAILED, with the reason)."
    )
    async def infer_file(self, info: Info[Context, None], id: strawberry.ID) -> InferFilePayload:
        services = info.context.services
        try:
            row = await inference.infer_file(services, id)
        except (NotFound, RecognizerUnavailable, UpstreamError) as exc:
            return InferFilePayload(file=None, errors=[UserError.of(exc, input=id)])
        return InferFilePayload(file=File.from_row(row), errors=[])

    @strawberry.mutation(
        description="Recognize several files; each id succeeds or fails on its own."
    )
    async def infer_files(
        self, info: Info[Context, None], ids: list[strawberry.ID]
    ) -> InferFilesPayload:
        outcomes = await inference.infer_files(info.context.services, ids)
        done, problems = split_outcomes(outcomes, ids, File.from_row)
        return InferFilesPayload(files=done, errors=problems)
