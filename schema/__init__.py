"""The GraphQL schema: types, payloads and the root Query and Mutation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from config import Settings
from errors import AppError
from schema.access import ReadOnlyKeys
from schema.catalog import CatalogMutations, CatalogQueries
from schema.events import Subscription
from schema.files import FileMutations, FileQueries
from schema.inference import InferenceMutations
from schema.stats import StatsQueries
from schema.uploads import UploadMutations

log = logging.getLogger("cars.graphql")

Query = merge_types("Query", (FileQueries, StatsQueries, CatalogQueries))
Mutation = merge_types(
    "Mutation", (UploadMutations, InferenceMutations, FileMutations, CatalogMutations)
)


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask only bugs. Syntax and validation errors have no original error, and
    our own AppErrors carry messages written for clients."""
    original = error.original_error
    return original is not None and not isinstance(original, (AppError, GraphQLError))


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log bugs with their traceback, as Strawberry does; a client's own
        mistakes (a malformed query, a file not found) only at debug level, so
        that a fuzzer or an attacker cannot flood the error log."""
        bugs = [error for error in errors if _is_unexpected(error)]
        super().process_errors(bugs, execution_context)
        for error in errors:
            if not _is_unexpected(error):
                log.debug("GraphQL error for the client: %s", error.message)


def create_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the limits of `settings` (defaults when None: what
    scripts/schema prints)."""
    settings = settings or Settings(_env_file=None)
    # Factories, not instances: Strawberry makes each extension afresh per operation.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaskErrors, should_mask_error=_is_unexpected),
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
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
    )
