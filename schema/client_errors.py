"""How GraphQL errors reach the client: bugs masked, a client's own mistakes in
words, and, in production, without "Did you mean ...?" hints.

graphql-core writes suggestions into its messages for fields, arguments, enum
values, types and input fields alike, and Strawberry's `disable_field_suggestions`
only turns off the first; the sentence is taken out of every message here, after
validation and execution, whatever produced it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import StreamExecutionResult
from strawberry.types.graphql import OperationType

from errors import AppError

MASKED = "Unexpected error."
OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
# Names in GraphQL are [_A-Za-z0-9]*, so a suggestion holds no question mark.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
# Strawberry's own refusals of a request that names no runnable operation.
_REFUSALS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


def is_unexpected(error: GraphQLError) -> bool:
    """Only bugs. Syntax and validation errors have no original error; our
    AppErrors carry messages written for clients; and Strawberry's refusals of
    an operation the transport does not run are the client's doing."""
    original = error.original_error
    return original is not None and not isinstance(original, (AppError, GraphQLError, *_REFUSALS))


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


class ClientErrors(SchemaExtension):
    def __init__(self, *, hide_suggestions: bool) -> None:
        self.hide_suggestions = hide_suggestions
        self._streamed = False

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        yield
        # A streamed operation's results were shaped one by one, below.
        result = self.execution_context.result
        if not self._streamed and isinstance(result, (GraphQLExecutionResult, ExecutionResult)):
            self._shape_all(result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._streamed = True
        self._shape_all(result)
        yield

    def _shape_all(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [self._shape(error) for error in errors]  # type: ignore[attr-defined]

    def _shape(self, error: GraphQLError) -> GraphQLError:
        if is_unexpected(error):
            return _copy(error, MASKED, original=False)
        if isinstance(error.original_error, InvalidOperationTypeError):
            return _copy(
                error,
                self._not_allowed(error.original_error.operation_type),
                extensions={"code": OPERATION_NOT_ALLOWED},
            )
        if self.hide_suggestions and "Did you mean" in error.message:
            return _copy(error, without_suggestions(error.message))
        return error

    def _not_allowed(self, operation: OperationType) -> str:
        kind = operation.value.capitalize()
        if set(self.execution_context.allowed_operations) == {OperationType.SUBSCRIPTION}:
            return (
                f"{kind} operations cannot run over this connection: the legacy graphql-ws"
                " protocol runs subscriptions only. Send queries and mutations over HTTP,"
                " or connect with the graphql-transport-ws protocol."
            )
        return f"{kind} operations cannot run over this transport."


def _copy(
    error: GraphQLError,
    message: str,
    *,
    original: bool = True,
    extensions: dict[str, object] | None = None,
) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error if original else None,
        extensions=extensions if extensions is not None else error.extensions,
    )
