"""Read-only API keys in GraphQL: they may query and subscribe, not mutate.

REST refuses a read key's writes by HTTP method (middleware/api_keys.py); a
GraphQL POST may be either, so the operation itself is checked, once, before
anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from access import Role

FORBIDDEN = "FORBIDDEN"


class ReadOnlyKeys(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        run = self.execution_context
        role = getattr(run.context, "role", None)
        if run.operation_type is OperationType.MUTATION and role is not Role.WRITE:
            # Setting the result before execution makes Strawberry skip it.
            run.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "This API key may read but not change anything: mutations need a key"
                        " from API_KEYS.",
                        extensions={"code": FORBIDDEN},
                    )
                ],
            )
        yield
