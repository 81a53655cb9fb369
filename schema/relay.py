"""The Node interface: every type with a global id implements it, so that a
client (Relay, Apollo) can refetch any object by its id alone."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object with a global id; `node(id:)` and `nodes(ids:)` fetch it again."
)
class Node:
    @strawberry.field(description="The global id: the same object always has the same one.")
    def id(self) -> strawberry.ID:
        raise NotImplementedError  # each type gives its own
