"""The errors a request can end in on purpose.

    AppError                 base: a message meant for the person who sent the request
    ├── NotFound             no file with that id
    ├── InvalidUpload        the upload is refused; nothing is stored
    │   ├── EmptyUpload      no file, or a file of zero bytes
    │   ├── InvalidImage     not an image, truncated, corrupt, a bomb or a polyglot
    │   ├── UnsupportedType  an image, or a name, of a type that is not allowed
    │   ├── TooLarge         over the size limit for one file or one request
    │   └── TooManyFiles     more files than one request may carry
    ├── InvalidInput         a malformed argument (cursor, page size, ids)
    │   ├── Duplicate        a catalog entry that is already there
    │   ├── EmptyName        a catalog entry without a make or a model
    │   └── TooMany          more entries than one request may carry
    ├── Unavailable          a dependency (the database, the image folder) is down
    │   └── RecognizerUnavailable  the model cannot be loaded; the message says how to fix it
    ├── UpstreamError        the remote recognizer failed, refused, or answered nonsense
    ├── StillQueued          recognition was queued but not finished within JOB_WAIT_SECONDS
    └── FellBehind           a subscriber read its events too slowly to be kept up to date

Resolvers raise these. GraphQL turns them into typed user errors and REST into
the status codes of docs/rest-compat.md. Anything else is a bug: it is logged with its
traceback and the client sees a generic message.
"""

from __future__ import annotations


class AppError(Exception):
    code = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, str]:
        # graphql-core copies an exception's `extensions` into the GraphQL error,
        # so clients can branch on the code rather than on the wording.
        return {"code": self.code}


class NotFound(AppError):
    code = "NOT_FOUND"


class InvalidUpload(AppError):
    code = "INVALID_UPLOAD"


class EmptyUpload(InvalidUpload):
    code = "EMPTY_FILE"


class InvalidImage(InvalidUpload):
    code = "INVALID_IMAGE"


class UnsupportedType(InvalidUpload):
    code = "UNSUPPORTED_TYPE"


class TooLarge(InvalidUpload):
    code = "TOO_LARGE"


class TooManyFiles(InvalidUpload):
    code = "TOO_MANY_FILES"


class Unavailable(AppError):
    code = "UNAVAILABLE"


class InvalidInput(AppError):
    """A malformed argument: a cursor, a page size, a list of ids."""

    code = "INVALID_INPUT"


class Duplicate(InvalidInput):
    code = "DUPLICATE"


class EmptyName(InvalidInput):
    code = "EMPTY_NAME"


class TooMany(InvalidInput):
    code = "TOO_MANY"


class RecognizerUnavailable(Unavailable):
    code = "RECOGNIZER_UNAVAILABLE"


class UpstreamError(AppError):
    code = "UPSTREAM_ERROR"


class StillQueued(AppError):
    """Not a failure: the file's job goes on, and the answer says so."""

    code = "STILL_QUEUED"


class FellBehind(AppError):
    code = "FELL_BEHIND"
