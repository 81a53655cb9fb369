"""What one GraphQL request may cost, and what production hides."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from testkit.queries import fan_out, long_comment, many_fragments, repeated
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
    # 12 KB of one-letter tokens: under the length limit, which comes first.
    huge = "{ stats { " + "a " * 6000 + "} }"
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


def _refused(answer: dict[str, Any], limit: str) -> str:
    """The message of a document refused for `limit`, with nothing run."""
    assert answer.get("data") is None, answer
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    assert error["extensions"]["limit"] == limit, error
    message: str = error["message"]
    return message


def test_fragment_fan_out_is_refused_over_post_and_get(client: TestClient) -> None:
    # Each fragment spreads the next twice: 2^n selections once expanded, from a
    # document of 0.7 KB (n=16; at n=30 the old limiters never finished).
    for n in (16, 30):
        refused = gql(client, fan_out(n))
        assert "more than 1000 fields" in _refused(refused, "selections")
        # An open server answers GET too, so a cross-site page could send it.
        answer = client.get("/graphql", params={"query": fan_out(n)})
        assert answer.status_code == 200
        _refused(answer.json(), "selections")


def test_fields_repeated_in_one_selection_set_are_refused(client: TestClient) -> None:
    # graphql-core compares repeated fields pairwise: 500 were 0.3 s of blocked
    # event loop, and 1000 answered only "Validation aborted."
    assert "'totalFiles' for one" in _refused(gql(client, repeated(500)), "repeats")
    _refused(gql(client, repeated(1000)), "selections")
    # Fragments that each ask for every field, all spread in one place, repeat them.
    _refused(gql(client, many_fragments(20)), "repeats")
    # A few repeats, as clients that add __typename to every fragment make, pass.
    some = "{ stats { __typename ...A ...B } } fragment A on Stats { __typename totalFiles }"
    some += " fragment B on Stats { __typename totalFiles processedFiles }"
    assert gql(client, some)["data"]["stats"]["processedFiles"] == 0


def test_thousands_of_unused_variables_are_refused_before_validation(client: TestClient) -> None:
    # graphql-core checks every variable definition against every use: 1,200
    # unused ones took it 40-120 ms of validation each time.
    declared = ", ".join(f"$v{i}: Int" for i in range(1200))
    answer = gql(client, f"query Q({declared}) {{ stats {{ totalFiles }} }}")
    assert "defines 1200 variables" in _refused(answer, "variables")
    # Under the limit, graphql-core's own rule speaks: each one is never used.
    few = ", ".join(f"$v{i}: Int" for i in range(5))
    errors = gql(client, f"query Q({few}) {{ stats {{ totalFiles }} }}")["errors"]
    assert [e["message"] for e in errors] == [
        f"Variable '$v{i}' is never used in operation 'Q'." for i in range(5)
    ]


def test_depth_and_aliases_count_what_fragments_bring(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(graphql_max_depth=3, graphql_max_aliases=2)
    deep = (
        "{ files(first: 1) { ...Page } } fragment Page on FileConnection { edges { ...Edge } }"
        " fragment Edge on FileEdge { node { predictions { label } } }"
    )
    aliases = "{ stats { ...A ...B } } fragment A on Stats { a: totalFiles }"
    aliases += (
        " fragment B on Stats { b: processedFiles ...C } fragment C on Stats { c: totalFiles }"
    )
    with TestClient(create_app(settings)) as client:
        assert "exceeds maximum operation depth of 3" in _refused(gql(client, deep), "depth")
        assert "3 aliases found. Allowed: 2" in _refused(gql(client, aliases), "aliases")


def test_too_many_fragment_spreads_are_refused(client: TestClient) -> None:
    spreads = " ".join(["...A"] * 65)
    refused = gql(client, f"{{ stats {{ {spreads} }} }} fragment A on Stats {{ totalFiles }}")
    assert "65 fragment spreads" in _refused(refused, "fragmentSpreads")


def test_fragment_cycles_and_twice_defined_fragments_are_refused_first(client: TestClient) -> None:
    cycle = "{ stats { ...A } } fragment A on Stats { ...B } fragment B on Stats { ...A }"
    [error] = gql(client, cycle)["errors"]
    assert "within itself" in error["message"]
    # Two fragments of one name: the limits would measure one, graphql-core the other.
    twice = "{ stats { ...A } } fragment A on Stats { totalFiles } fragment A on Stats { ...B }"
    twice += " fragment B on Stats { processedFiles }"
    [error] = gql(client, twice)["errors"]
    assert error["message"] == "There can be only one fragment named 'A'."


def test_a_document_longer_than_the_limit_is_refused_before_parsing(client: TestClient) -> None:
    # A comment is no token, but parsing it still costs time on the event loop.
    assert "at most 16384 are accepted" in _refused(gql(client, long_comment(20)), "length")
    assert gql(client, long_comment(15))["data"]["stats"]["totalFiles"] == 0


HUGE = "9" * 5000  # more digits than Python's int() accepts (4,300)


@pytest.mark.parametrize(
    "query",
    [
        f"{{ files(first: {HUGE}) {{ totalCount }} }}",
        f"{{ catalog(first: {HUGE}) {{ totalCount }} }}",
        f"{{ files(first: -{HUGE}) {{ totalCount }} }}",
        f"{{ nodes(ids: [1, {HUGE}]) {{ id }} }}",
        f"query($n: Int = {HUGE}) {{ files(first: $n) {{ totalCount }} }}",
    ],
)
def test_an_integer_of_thousands_of_digits_is_the_clients_mistake(
    client: TestClient, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        posted = gql(client, query)
        got = client.get("/graphql", params={"query": query}).json()
    for answer in (posted, got):
        assert answer.get("data") is None
        [error] = answer["errors"]
        assert error["message"] == (
            "An integer of 5000 digits is not a value any argument accepts;"
            " integers have at most 4300 digits."
        )
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert gql(client, "{ files(first: 0100) { totalCount } }")["errors"]  # no leading zeros
    assert gql(client, "{ catalog(first: 2) { totalCount } }")["data"]["catalog"]["totalCount"] > 0


def test_a_variable_of_thousands_of_digits_is_the_clients_mistake(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = (
        '{"query": "query($n: Int) { files(first: $n) { totalCount } }",'
        f' "variables": {{"n": {HUGE}}}}}'
    )
    with caplog.at_level(logging.DEBUG):
        posted = client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
        got = client.get(
            "/graphql",
            params={
                "query": "query($n: Int) { files(first: $n) { totalCount } }",
                "variables": f'{{"n": {HUGE}}}',
            },
        )
    for answer in (posted, got):
        assert answer.status_code == 400, answer.text
        assert "more digits than any value takes" in answer.text
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# Each kind of "Did you mean" graphql-core writes, with the name it suggests.
SUGGESTED = [
    ("{ fils { totalCount } }", None, "'file' or 'files'"),
    ("{ files(firs: 1) { totalCount } }", None, "'first'"),
    ("{ files(status: DON) { totalCount } }", None, "'DONE'"),
    ("query($s: FileStatu) { files(status: $s) { totalCount } }", None, "'FileStatus'"),
    ("query($s: FileStatus) { files(status: $s) { totalCount } }", {"s": "DON"}, "'DONE'"),
]


@pytest.mark.parametrize(("query", "variables", "suggestion"), SUGGESTED)
def test_production_suggests_no_names_of_any_kind(
    make_settings: Callable[..., Settings],
    query: str,
    variables: dict[str, Any] | None,
    suggestion: str,
) -> None:
    with TestClient(create_app(make_settings(env="production"))) as client:
        [error] = gql(client, query, variables)["errors"]
    assert "Did you mean" not in error["message"], error
    assert suggestion not in error["message"], error


@pytest.mark.parametrize(("query", "variables", "suggestion"), SUGGESTED)
def test_development_suggests_names_of_every_kind(
    client: TestClient, query: str, variables: dict[str, Any] | None, suggestion: str
) -> None:
    [error] = gql(client, query, variables)["errors"]
    assert "Did you mean" in error["message"], error
    assert suggestion in error["message"], error


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
