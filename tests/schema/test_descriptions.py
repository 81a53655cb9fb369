"""Every field a user reads in GraphiQL says what it holds."""

from __future__ import annotations

from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
)

from schema import create_schema

# The types a client reads most; listed so that renaming one cannot silently
# take it out of the check below.
MUST_BE_DESCRIBED = {"File", "Prediction", "Stats", "UserError", "PageInfo", "FileConnection"}


def _types() -> dict[str, GraphQLNamedType]:
    type_map = create_schema()._schema.type_map
    return {
        name: t
        for name, t in type_map.items()
        if not name.startswith("__")
        and isinstance(t, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType)
    }


def test_every_field_has_a_description() -> None:
    types = _types()
    assert types.keys() >= MUST_BE_DESCRIBED
    assert any(name.endswith("Payload") for name in types)
    missing = [
        f"{name}.{field_name}"
        for name, t in sorted(types.items())
        for field_name, field in t.fields.items()  # type: ignore[attr-defined]
        if not (field.description or "").strip()
    ]
    assert missing == [], f"GraphQL fields without a description: {missing}"


def test_every_payload_and_object_type_has_a_description() -> None:
    missing = [
        name
        for name, t in sorted(_types().items())
        if name not in {"Query", "Mutation", "Subscription"} and not (t.description or "").strip()
    ]
    assert missing == [], f"GraphQL types without a description: {missing}"
