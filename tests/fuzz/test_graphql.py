"""Hypothesis-generated GraphQL against the app over HTTP: every query and
mutation, valid and with one violation each (null where not null, wrong types),
and hostile ids, page sizes and cursors as variables. No request may end in an
unexpected (masked) error or a 5xx, and the server keeps answering."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries
from starlette.testclient import TestClient

from config import Settings
from resolvers.ids import global_id
from server import create_app
from tests.helpers import upload_jpeg

SCHEMA = (Path(__file__).parents[2] / "schema.graphql").read_text()
PARSED = graphql.build_schema(SCHEMA)


def _cases(root: graphql.GraphQLObjectType | None) -> list[tuple[str, Mode]]:
    """Each root field, valid; and with one violation where it has arguments to break."""
    fields = root.fields if root else {}
    return [(name, Mode.POSITIVE) for name in sorted(fields)] + [
        (name, Mode.NEGATIVE) for name in sorted(fields) if fields[name].args
    ]


QUERIES = _cases(PARSED.query_type)
MUTATIONS = _cases(PARSED.mutation_type)
# Literals for the scalars graphql-core does not know how to make up.
SCALARS = {
    "Upload": st.text(max_size=20).map(nodes.String),
    "DateTime": st.text(max_size=30).map(nodes.String),
}
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same cases each run: CI fails only when the code changed
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("fuzz-graphql")
    settings = Settings(_env_file=None, upload_dir=folder / "uploads", hf_model=str(tiny_model))
    with TestClient(create_app(settings)) as test_client:
        for i in range(3):
            upload_jpeg(test_client, f"{i}.jpg", color=(i * 50, 10, 10))
        yield test_client


def _post(client: TestClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    answer = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert answer.status_code < 500, answer.text
    body = answer.json()
    assert "data" in body or "errors" in body, body
    for error in body.get("errors") or []:
        # A masked error is a bug that reached the client as "Unexpected error."
        assert error["message"] != "Unexpected error.", (query, variables, body)
    return body


def _still_serving(client: TestClient) -> None:
    assert _post(client, "{ stats { totalFiles } }")["data"]["stats"]["totalFiles"] >= 0


@pytest.mark.parametrize(("field", "mode"), QUERIES, ids=lambda v: getattr(v, "name", v))
def test_every_query(client: TestClient, field: str, mode: Mode) -> None:
    @FUZZ
    @given(queries(SCHEMA, fields=[field], custom_scalars=SCALARS, mode=mode))
    def run(query: str) -> None:
        _post(client, query)

    run()
    _still_serving(client)


@pytest.mark.parametrize(("field", "mode"), MUTATIONS, ids=lambda v: getattr(v, "name", v))
def test_every_mutation(client: TestClient, field: str, mode: Mode) -> None:
    @FUZZ
    @given(mutations(SCHEMA, fields=[field], custom_scalars=SCALARS, mode=mode))
    def run(mutation: str) -> None:
        _post(client, mutation)

    run()
    _still_serving(client)


def _global(type_name: str, digits: str) -> str:
    """A global id around any digits (`global_id` takes an int, which 5,000
    digits cannot be turned into text from)."""
    return base64.b64encode(f"{type_name}:{digits}".encode()).decode()


# Ids as a client might get them wrong: odd text, huge and negative numbers,
# global ids of other types or with junk inside, unicode, NUL, and null.
HOSTILE_IDS = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=-(2**40), max_value=2**40).map(lambda n: global_id("File", n)),
    st.integers(min_value=-(2**40), max_value=2**40).map(lambda n: global_id("CatalogEntry", n)),
    st.text(max_size=12).map(lambda t: global_id(t, 1)),
    st.sampled_from(
        ["", " ", "\x00", "1e9", "0x10", "٣", "²", "1.5", "RmlsZTox", "RmlsZTo=", "null"]
    ),
    # past the 4,300 digits int() converts, with and without leading zeros
    st.sampled_from(["9" * 5000, "0" * 5000 + "1", _global("CatalogEntry", "9" * 5000)]),
    st.none(),
)
ID_OPERATIONS = [
    "query ($id: ID!) { file(id: $id) { id filename } }",
    "mutation ($id: ID!) { inferFile(id: $id) { file { id } errors { code message } } }",
    "mutation ($id: ID!) { reprocessFile(id: $id) { file { id } errors { code } } }",
    "mutation ($id: ID!) { deleteFile(id: $id) { deletedId errors { code } } }",
    "mutation ($id: ID!) { updateCatalogEntry(id: $id, changes: {enabled: true})"
    " { entry { id } errors { code } } }",
    "mutation ($id: ID!) { removeCatalogEntries(ids: [$id]) { removedIds errors { code } } }",
]


@pytest.mark.parametrize(
    "operation", ID_OPERATIONS, ids=lambda op: op.split("{")[1].split("(")[0].strip()
)
def test_hostile_ids(client: TestClient, operation: str) -> None:
    @FUZZ
    @given(HOSTILE_IDS)
    def run(value: str | None) -> None:
        body = _post(client, operation, {"id": value})
        if value is None:  # null where ID! is required: a variable error, nothing runs
            assert body["data"] is None

    run()
    _still_serving(client)


@FUZZ
@given(
    first=st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63)),
    after=st.one_of(st.none(), st.text(max_size=40), st.binary(max_size=30).map(lambda b: b.hex())),
    name=st.one_of(st.none(), st.text(max_size=50)),
    ids=st.lists(HOSTILE_IDS, max_size=120),
)
def test_hostile_pages_names_and_id_lists(
    client: TestClient,
    first: int | None,
    after: str | None,
    name: str | None,
    ids: list[str | None],
) -> None:
    _post(
        client,
        "query ($first: Int, $after: String, $name: String) {"
        " files(first: $first, after: $after, search: $name) { totalCount edges { cursor } } }",
        {"first": first, "after": after, "name": name},
    )
    _post(
        client,
        "query ($first: Int, $after: String, $name: String) {"
        " catalog(first: $first, after: $after, search: $name, make: $name)"
        " { totalCount edges { cursor } } }",
        {"first": first, "after": after, "name": name},
    )
    _post(
        client,
        "mutation ($ids: [ID!]!) { inferFiles(ids: $ids) { files { id } errors { code } } }",
        {"ids": ids},
    )
