"""What one GraphQL request may cost, and what production hides."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests.helpers import gql

INTROSPECTION = "{ __schema { queryType { name } types { name fields { name } } } }"


def test_a_query_deeper_than_the_limit_is_refused(make_settings: Callable[..., Settings]) -> None:
    # The schema is shallow (files → edges → node → predictions → label is 4 deep), so
    # the limit is lowered to show the check itself.
    settings = make_settings(graphql_max_depth=3)
    deep = "{ files(first: 1) { edges { node { predictions { label } } } } }"
    shallow = "{ files(first: 1) { edges { node { id } } } }"
    with TestClient(create_app(settings)) as client:
        refused = gql(client, deep)
        assert refused.get("data") is None
        assert "exceeds maximum operation depth of 3" in refused["errors"][0]["message"]
        assert gql(client, shallow)["data"]["files"]["edges"] == []


def test_the_default_depth_admits_every_real_query_and_graphiqls_introspection(
    client: TestClient,
) -> None:
    deepest = (
        "{ files(first: 1) { edges { node { id predictions { rank label make model year } } } }"
        " stats { totalFiles topMakes { make count } } }"
    )
    assert "errors" not in gql(client, deepest)
    # GraphiQL's own introspection query goes through (it is deep, but
    # introspection fields are not counted).
    full = gql(client, _GRAPHIQL_INTROSPECTION)
    assert "errors" not in full
    assert full["data"]["__schema"]["queryType"]["name"] == "Query"


def test_too_many_aliases_are_refused(client: TestClient) -> None:
    many = "{ " + " ".join(f"a{i}: stats {{ totalFiles }}" for i in range(31)) + " }"
    refused = gql(client, many)
    assert refused.get("data") is None
    assert "aliases found. Allowed: 30" in refused["errors"][0]["message"]
    some = "{ " + " ".join(f"a{i}: stats {{ totalFiles }}" for i in range(30)) + " }"
    assert gql(client, some)["data"]["a29"]["totalFiles"] == 0


def test_too_many_tokens_are_refused_before_parsing_finishes(client: TestClient) -> None:
    huge = "{ stats { " + "totalFiles " * 6000 + "} }"  # 23 KB: under the body limit
    refused = gql(client, huge)
    assert refused.get("data") is None
    assert "Document contains more than 5000 tokens" in refused["errors"][0]["message"]


def test_production_hides_introspection_graphiql_and_suggestions(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings(env="production"))) as client:
        refused = gql(client, INTROSPECTION)
        assert "introspection" in refused["errors"][0]["message"].lower()
        assert client.get("/graphql", headers={"Accept": "text/html"}).status_code == 404
        typo = gql(client, "{ fils { totalCount } }")
        assert "Cannot query field 'fils'" in typo["errors"][0]["message"]
        assert "Did you mean" not in typo["errors"][0]["message"]
        # the API itself works
        assert gql(client, "{ stats { totalFiles } }")["data"]["stats"]["totalFiles"] == 0


def test_production_turns_each_back_on_when_configured(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        env="production", graphql_introspection=True, graphiql=True, graphql_field_suggestions=True
    )
    with TestClient(create_app(settings)) as client:
        assert gql(client, INTROSPECTION)["data"]["__schema"]["queryType"]["name"] == "Query"
        assert client.get("/graphql", headers={"Accept": "text/html"}).status_code == 200
        typo = gql(client, "{ fils { totalCount } }")
        assert "Did you mean 'file' or 'files'?" in typo["errors"][0]["message"]


def test_development_suggests_fields(client: TestClient) -> None:
    typo = gql(client, "{ fils { totalCount } }")
    assert "Did you mean 'file' or 'files'?" in typo["errors"][0]["message"]


# The introspection query GraphiQL 3 sends on load (graphql-js getIntrospectionQuery
# with descriptions, specifiedByUrl and input value deprecation), abridged to the
# nesting that matters: nine levels of ofType.
_GRAPHIQL_INTROSPECTION = """
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"""
