"""The GraphQL schema: types, payloads and the root Query and Mutation."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.tools import merge_types

from errors import AppError
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


def create_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[lambda: MaskErrors(should_mask_error=_is_unexpected)],
    )
