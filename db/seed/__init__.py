"""What a new database's catalog starts with: the 196 Stanford Cars classes
(each a single year) and `current_models.csv`, a hand-compiled list of models
sold from 2013 to 2026 (US model years; an empty year_to means still on sale)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from db.catalog import catalog_key
from recognition.labels import parse_label
from recognition.prompts import FixedEntry, entry_label

HERE = Path(__file__).parent


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def seed_entries() -> list[FixedEntry]:
    entries: list[FixedEntry] = []
    for name in (HERE / "stanford_cars_classes.txt").read_text().splitlines():
        parts = parse_label(name)
        if not (parts.make and parts.model and parts.year):
            raise ValueError(f"not a Stanford Cars name: {name!r}")
        entries.append(
            FixedEntry(None, parts.make, parts.model, parts.body_type, parts.year, parts.year)
        )
    with (HERE / "current_models.csv").open(newline="") as rows:
        for row in csv.DictReader(rows):
            entries.append(
                FixedEntry(
                    None,
                    row["make"],
                    row["model"],
                    row["body_type"] or None,
                    _int(row["year_from"]),
                    _int(row["year_to"]),
                )
            )
    return entries


def seed_rows() -> list[dict[str, Any]]:
    """The rows for `catalog_entries`, without timestamps."""
    return [
        {
            "make": e.make,
            "model": e.model,
            "body_type": e.body_type,
            "year_from": e.year_from,
            "year_to": e.year_to,
            "enabled": True,
            "key": catalog_key(entry_label(e)),
        }
        for e in seed_entries()
    ]
