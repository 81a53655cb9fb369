"""Catalog entries as the zero-shot backend reads them: their label, their
prompt, and where they come from (the `catalog_entries` table, or a fixed list
for evaluation).

A label is built from the fields, never parsed: "BMW M3 Coupe 2012",
"Tesla Model Y SUV 2020+", "Ford Mustang 2015-2023".
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

TEMPLATE_FIELDS = frozenset({"label", "make", "model", "body_type", "years"})

# The colours a photo's vehicle is named with, and how each is asked about.
COLORS: tuple[str, ...] = (
    "white", "black", "grey", "silver", "red", "blue", "green", "yellow", "orange", "brown",
    "beige",
)  # fmt: skip
COLOR_PROMPT = "a photo of a {color} car"


class CatalogEntry(Protocol):
    """What a catalog entry must have (a db row or a `FixedEntry`)."""

    @property
    def id(self) -> int | None: ...
    @property
    def make(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def body_type(self) -> str | None: ...
    @property
    def year_from(self) -> int | None: ...
    @property
    def year_to(self) -> int | None: ...


@dataclass(frozen=True)
class FixedEntry:
    id: int | None
    make: str
    model: str
    body_type: str | None = None
    year_from: int | None = None
    year_to: int | None = None


class CatalogSource(Protocol):
    async def version(self) -> int:
        """Changes whenever an entry is added, changed, switched or removed;
        cheap, since it is asked before every batch."""
        ...

    async def entries(self) -> Sequence[CatalogEntry]:
        """The enabled entries."""
        ...


class FixedCatalog:
    """A catalog that never changes: evaluation runs, benchmarks."""

    def __init__(self, entries: Sequence[CatalogEntry]) -> None:
        self._entries = list(entries)

    async def version(self) -> int:
        return 0

    async def entries(self) -> Sequence[CatalogEntry]:
        return self._entries


def years_text(year_from: int | None, year_to: int | None) -> str:
    if year_from is None and year_to is None:
        return ""
    if year_from is None:
        return f"-{year_to}"
    if year_to is None:
        return f"{year_from}+"
    if year_from == year_to:
        return str(year_from)
    return f"{year_from}-{year_to}"


def entry_label(entry: CatalogEntry) -> str:
    years = years_text(entry.year_from, entry.year_to)
    parts = [entry.make, entry.model, entry.body_type or "", years]
    return " ".join(part for part in parts if part)


def entry_year(entry: CatalogEntry) -> int | None:
    """The year of an entry for a single year; None for a range."""
    return entry.year_from if entry.year_from == entry.year_to else None


def entry_prompt(template: str, entry: CatalogEntry) -> str:
    text = template.format(
        label=entry_label(entry),
        make=entry.make,
        model=entry.model,
        body_type=entry.body_type or "",
        years=years_text(entry.year_from, entry.year_to),
    )
    return " ".join(text.split())  # an empty field leaves no double space


def check_template(template: str) -> str:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"ZERO_SHOT_PROMPT is not a valid template: {exc}") from exc
    unknown = fields - TEMPLATE_FIELDS
    if unknown or not fields:
        raise ValueError(
            "ZERO_SHOT_PROMPT must use some of {" + "}, {".join(sorted(TEMPLATE_FIELDS)) + "}"
            f" and nothing else; got {', '.join(sorted(unknown)) or 'no field'}"
        )
    return template
