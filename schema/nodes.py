"""`node(id:)` and `nodes(ids:)`: any object by its global id (Relay's object
identification, as GitHub's and Shopify's APIs offer it)."""

from __future__ import annotations

import strawberry
from strawberry import Info

from resolvers import nodes
from schema.context import Context
from schema.files import File
from schema.relay import Node


@strawberry.type
class NodeQueries:
    @strawberry.field(description="The object with this global id; null if there is none.")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        [row] = await nodes.get_nodes(info.context.services, [id])
        return File.from_row(row) if row is not None else None

    @strawberry.field(
        description="The objects with these global ids, in the same order; null for each id "
        "that names none. At most MAX_BATCH_IDS ids."
    )
    async def nodes(self, info: Info[Context, None], ids: list[strawberry.ID]) -> list[Node | None]:
        rows = await nodes.get_nodes(info.context.services, ids)
        return [File.from_row(row) if row is not None else None for row in rows]
