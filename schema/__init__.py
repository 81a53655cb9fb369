"""The GraphQL schema: types, payloads and the root Query and Mutation."""

from __future__ import annotations

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

from config import Settings
from errors import AppError
from schema.access import ReadOnlyKeys
from schema.events import Subscription
from schema.files import FileMutations, FileQueries
from schema.inference import InferenceMutations
from schema.stats import StatsQueries
from schema.uploads import UploadMutations

Query = merge_types("Query", (FileQueries, StatsQueries))
Mutation = merge_types("Mutation", (UploadMutations, InferenceMutations, FileMutations))


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask only bugs. Syntax and validation errors have no original error, and
    our own AppErrors carry messages written for clients."""
    original = error.original_error
    return original is not None and not isinstance(original, (AppError, GraphQLError))


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
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not settings.field_suggestions_on),
    )
