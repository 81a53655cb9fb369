"""Expected failures, as data in mutation payloads rather than top-level errors."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import TypeVar

import strawberry

import errors


@strawberry.enum(description="What kind of problem a user error reports.")
class ErrorCode(enum.Enum):
    NOT_FOUND = errors.NotFound.code
    EMPTY_FILE = errors.EmptyUpload.code
    INVALID_IMAGE = errors.InvalidImage.code
    UNSUPPORTED_TYPE = errors.UnsupportedType.code
    TOO_LARGE = errors.TooLarge.code
    TOO_MANY_FILES = errors.TooManyFiles.code
    INVALID_UPLOAD = errors.InvalidUpload.code
    INVALID_INPUT = errors.InvalidInput.code
    DUPLICATE = errors.Duplicate.code
    EMPTY_NAME = errors.EmptyName.code
    TOO_MANY = errors.TooMany.code
    UNAVAILABLE = errors.Unavailable.code
    RECOGNIZER_UNAVAILABLE = errors.RecognizerUnavailable.code
    UPSTREAM_ERROR = errors.UpstreamError.code
    FELL_BEHIND = errors.FellBehind.code
    STILL_QUEUED = errors.StillQueued.code


@strawberry.type(description="A problem with one input of a mutation; the other inputs went ahead.")
class UserError:
    code: ErrorCode = strawberry.field(description="Stable, for code to branch on.")
    message: str = strawberry.field(description="What went wrong, in words for a person.")
    index: int | None = strawberry.field(
        default=None, description="The position of the input in the list that was sent."
    )
    input: str | None = strawberry.field(
        default=None, description="The input it concerns: a file name, an id or a label."
    )

    @classmethod
    def of(
        cls, exc: errors.AppError, *, index: int | None = None, input: str | None = None
    ) -> UserError:
        return cls(code=ErrorCode(exc.code), message=exc.message, index=index, input=input)


Done = TypeVar("Done")
Shown = TypeVar("Shown")


def split_outcomes(
    outcomes: Sequence[Done | errors.AppError],
    inputs: Sequence[str | None],
    show: Callable[[Done], Shown],
) -> tuple[list[Shown], list[UserError]]:
    """A batch mutation's outcomes, one per input in order: what went ahead (as
    `show` presents it) and a user error for each one that did not."""
    done: list[Shown] = []
    problems: list[UserError] = []
    for index, (value, outcome) in enumerate(zip(inputs, outcomes, strict=True)):
        if isinstance(outcome, errors.AppError):
            problems.append(UserError.of(outcome, index=index, input=value))
        else:
            done.append(show(outcome))
    return done, problems
