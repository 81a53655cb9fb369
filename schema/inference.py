"""Recognition mutations."""

from __future__ import annotations

import strawberry
from strawberry import Info

from errors import NotFound, RecognizerUnavailable, StillQueued, UpstreamError
from resolvers import jobs
from resolvers.files import get_file
from schema.context import Context
from schema.errors import UserError, split_outcomes
from schema.files import File


@strawberry.type(description="The result of `inferFile`.")
class InferFilePayload:
    file: File | None = strawberry.field(
        description="The file, with its predictions when done; still QUEUED or PROCESSING "
        "with a STILL_QUEUED error when its job took longer than the server waits."
    )
    errors: list[UserError] = strawberry.field(
        description="Empty on success; else why recognition failed, or STILL_QUEUED."
    )


@strawberry.type(description="The result of `inferFiles`.")
class InferFilesPayload:
    files: list[File] = strawberry.field(description="The files recognized, in the order asked.")
    errors: list[UserError] = strawberry.field(
        description="One entry per id that failed, or is STILL_QUEUED (its job goes on)."
    )


@strawberry.type(description="The result of `recognizeFiles`.")
class RecognizeFilesPayload:
    files: list[File] = strawberry.field(
        description="The files, in the order asked: QUEUED (or PROCESSING, or DONE when they "
        "already have the current model's results)."
    )
    errors: list[UserError] = strawberry.field(description="One entry per id not queued.")


@strawberry.type
class InferenceMutations:
    @strawberry.mutation(
        description="Recognize the car in one file and answer with the result. "
        "RECOGNIZER_UNAVAILABLE says how to fix the recognizer (the file stays PENDING); "
        "UPSTREAM_ERROR means the recognizer failed (the file is FAILED, with the reason); "
        "STILL_QUEUED means that with a job queue the job took longer than the server waits "
        "(JOB_WAIT_SECONDS): it goes on, and the file is returned as it is."
    )
    async def infer_file(self, info: Info[Context, None], id: strawberry.ID) -> InferFilePayload:
        services = info.context.services
        try:
            row = await jobs.infer_file(services, id)
        except StillQueued as exc:
            row = await get_file(services, id)
            return InferFilePayload(file=File.from_row(row), errors=[UserError.of(exc, input=id)])
        except (NotFound, RecognizerUnavailable, UpstreamError) as exc:
            return InferFilePayload(file=None, errors=[UserError.of(exc, input=id)])
        return InferFilePayload(file=File.from_row(row), errors=[])

    @strawberry.mutation(
        description="Recognize several files and answer with the results; each id succeeds or "
        "fails on its own."
    )
    async def infer_files(
        self, info: Info[Context, None], ids: list[strawberry.ID]
    ) -> InferFilesPayload:
        outcomes = await jobs.infer_files(info.context.services, ids)
        done, problems = split_outcomes(outcomes, ids, File.from_row)
        return InferFilesPayload(files=done, errors=problems)

    @strawberry.mutation(
        description="Queue files for recognition and answer at once, with the files now "
        "QUEUED. Watch their progress with the fileEvents subscription (subscribe first), or "
        "read them later. At most MAX_BATCH_IDS ids."
    )
    async def recognize_files(
        self, info: Info[Context, None], ids: list[strawberry.ID]
    ) -> RecognizeFilesPayload:
        outcomes = await jobs.recognize_files(info.context.services, ids)
        queued, problems = split_outcomes(outcomes, ids, File.from_row)
        return RecognizeFilesPayload(files=queued, errors=problems)
