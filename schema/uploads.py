"""Upload mutations (GraphQL multipart request spec)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from starlette.datastructures import UploadFile
from strawberry import Info
from strawberry.file_uploads import Upload

from errors import EmptyUpload, InvalidUpload
from resolvers import jobs
from resolvers.uploads import IncomingFile
from schema.context import Context
from schema.errors import UserError, split_outcomes
from schema.files import File

RECOGNIZE = (
    "Queue the stored photos for recognition at once (they are QUEUED in the answer; "
    "fileEvents reports their progress). Unset: the server's AUTO_RECOGNIZE setting decides."
)


@strawberry.type(description="The result of `uploadFile`.")
class UploadFilePayload:
    file: File | None = strawberry.field(
        description="The file stored (QUEUED or PENDING for recognition); null when refused."
    )
    errors: list[UserError] = strawberry.field(
        description="Empty on success; else why the file was refused."
    )


@strawberry.type(description="The result of `uploadFiles`.")
class UploadFilesPayload:
    files: list[File] = strawberry.field(description="The files stored, in the order sent.")
    errors: list[UserError] = strawberry.field(description="One entry per file refused.")


@strawberry.type
class UploadMutations:
    @strawberry.mutation(description="Upload one JPEG or PNG photo.")
    async def upload_file(
        self,
        info: Info[Context, None],
        file: Upload,
        recognize: Annotated[bool | None, strawberry.argument(description=RECOGNIZE)] = None,
    ) -> UploadFilePayload:
        try:
            row = await jobs.upload_file(
                info.context.services, _incoming(file), recognize=recognize
            )
        except InvalidUpload as exc:
            return UploadFilePayload(file=None, errors=[UserError.of(exc, input=_name(file))])
        return UploadFilePayload(file=File.from_row(row), errors=[])

    @strawberry.mutation(
        description="Upload several photos; each is accepted or refused on its own."
    )
    async def upload_files(
        self,
        info: Info[Context, None],
        files: list[Upload],
        recognize: Annotated[bool | None, strawberry.argument(description=RECOGNIZE)] = None,
    ) -> UploadFilesPayload:
        try:
            sent = [_incoming(upload, index) for index, upload in enumerate(files)]
            outcomes = await jobs.upload_files(info.context.services, sent, recognize=recognize)
        except InvalidUpload as exc:  # the request as a whole: no files, or too many
            return UploadFilesPayload(files=[], errors=[UserError.of(exc)])
        names = [_name(upload) for upload in files]
        stored, problems = split_outcomes(outcomes, names, File.from_row)
        return UploadFilesPayload(files=stored, errors=problems)


def _incoming(upload: object, index: int | None = None) -> IncomingFile:
    """The uploaded file. The Upload scalar takes any value, so a string literal
    or a JSON variable arrives here too: refuse it, saying how to send a file."""
    if isinstance(upload, UploadFile):  # how Starlette hands multipart files over
        return upload
    which = "The file" if index is None else f"Item {index} of `files`"
    raise EmptyUpload(
        f"{which} is not an uploaded file: send the request as multipart/form-data, with the"
        " file mapped to its variable (the GraphQL multipart request spec)."
    )


def _name(upload: object) -> str | None:
    return getattr(upload, "filename", None)
