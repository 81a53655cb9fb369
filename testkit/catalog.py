"""The catalog a new database starts with, as the tests and benchmarks read it:
from the migration that inserted it, where it is frozen (db/migrations/README.md)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from recognition.prompts import FixedEntry

_MIGRATION = (
    Path(__file__).parents[1]
    / "db"
    / "migrations"
    / "versions"
    / "0005c_rev0006_catalog_and_verdict.py"
)


@cache
def seed_entries() -> tuple[FixedEntry, ...]:
    """The seeded entries, in the order they were inserted (ids 1, 2, ...)."""
    spec = importlib.util.spec_from_file_location("catalog_seed_migration", _MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(
        FixedEntry(None, make, model, body_type, year_from, year_to)
        for make, model, body_type, year_from, year_to, _key in module.SEED
    )
