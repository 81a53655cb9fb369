"""The GraphQL schema: types, payloads and the root Query and Mutation."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from functools import partial
from typing import Any

import strawberry
from anyio import CapacityLimiter
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from config import Settings
from schema.access import ReadOnlyKeys
from schema.catalog import CatalogMutations, CatalogQueries
from schema.client_errors import ClientErrors, is_unexpected
from schema.events import Subscription
from schema.files import FileMutations, FileQueries
from schema.inference import InferenceMutations
from schema.limits import DocumentLimits, Limits, too_complex
from schema.nodes import NodeQueries
from schema.stats import StatsQueries
from schema.uploads import UploadMutations

log = logging.getLogger("cars.graphql")

Query = merge_types("Query", (FileQueries, NodeQueries, StatsQueries, CatalogQueries))
Mutation = merge_types(
    "Mutation", (UploadMutations, InferenceMutations, FileMutations, CatalogMutations)
)


class Schema(strawberry.Schema):
    def __init__(self, *args: Any, max_document_chars: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_document_chars = max_document_chars

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        if error := self._too_long(query):
            return PreExecutionError(data=None, errors=[error])
        # One result, so never a subscription: graphql-core would run its
        # resolver as a query's and fail on the stream it returns. Refused here,
        # Strawberry answers 400 ("subscriptions are not allowed when using POST").
        allowed = set(allowed_operation_types or OperationType) - {OperationType.SUBSCRIPTION}
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Any:
        if error := self._too_long(query):
            return _one_result(PreExecutionError(data=None, errors=[error]))
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )

    def _too_long(self, query: str | None) -> GraphQLError | None:
        """Parsing runs on the event loop at about 4 µs per character of string
        or comment, before any token limit applies, so the length comes first."""
        if query is None or len(query) <= self.max_document_chars:
            return None
        error = too_complex(
            f"The document is {len(query)} characters long; at most"
            f" {self.max_document_chars} are accepted.",
            "length",
            self.max_document_chars,
        )
        log.debug("GraphQL error for the client: %s", error.message)
        return error

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log bugs with their traceback, as Strawberry does; a client's own
        mistakes (a malformed query, a file not found) only at debug level, so
        that a fuzzer or an attacker cannot flood the error log."""
        bugs = [error for error in errors if is_unexpected(error)]
        super().process_errors(bugs, execution_context)
        for error in errors:
            if not is_unexpected(error):
                log.debug("GraphQL error for the client: %s", error.message)


def create_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the limits of `settings` (defaults when None: what
    scripts/schema prints)."""
    settings = settings or Settings(_env_file=None)
    # Factories, not instances: Strawberry makes each extension afresh per operation.
    limits = Limits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_selections=settings.graphql_max_selections,
        max_fragment_spreads=settings.graphql_max_fragment_spreads,
        max_repeats=settings.graphql_max_repeated_fields,
        max_variables=settings.graphql_max_variables,
    )
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(ClientErrors, hide_suggestions=not settings.field_suggestions_on),
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(DocumentLimits, limits, CapacityLimiter(1)),
        ReadOnlyKeys,
    ]
    if not settings.introspection_on:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not settings.field_suggestions_on),
        max_document_chars=settings.graphql_max_document_kb * 1024,
    )


async def _one_result(result: ExecutionResult) -> AsyncGenerator[ExecutionResult, None]:
    yield result
