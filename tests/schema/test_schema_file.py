"""The committed schema.graphql is the schema the server serves."""

from __future__ import annotations

from pathlib import Path

from schema import create_schema

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    printed = create_schema().as_str() + "\n"
    assert SCHEMA_FILE.read_text() == printed, (
        "schema.graphql is out of date: run `scripts/schema` and commit the result"
    )
