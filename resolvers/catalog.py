"""The catalog of names the zero-shot backend chooses from: listing, adding,
changing, switching off and removing entries. Every change is seen by every
replica's recognizer before its next batch (see db/catalog.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from db import catalog as db_catalog
from db.catalog import catalog_key
from db.models import CATALOG_LENGTHS, CatalogEntryRow
from errors import AppError, Duplicate, EmptyName, InvalidInput, NotFound, TooMany
from recognition.prompts import entry_label
from resolvers.ids import decode_cursor, parse_id
from resolvers.text import check_text
from services import Services

MAX_PAGE_SIZE = 100
FIRST_YEAR, LAST_YEAR = 1886, 2100


@dataclass(frozen=True)
class NewEntry:
    make: str
    model: str
    body_type: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class EntryPage:
    rows: Sequence[CatalogEntryRow]
    has_next_page: bool
    has_previous_page: bool


@dataclass
class EntryChanges:
    """Fields to change; those left out keep their value (None clears an optional one)."""

    values: dict[str, Any] = field(default_factory=dict)


def parse_entry_id(value: str | int) -> int:
    """7, "7" or the global id of CatalogEntry 7; NotFound for anything else."""
    return parse_id(value, kind="CatalogEntry", noun="catalog entry")


def _clean(entry: NewEntry) -> CatalogEntryRow:
    make, model = " ".join(entry.make.split()), " ".join(entry.model.split())
    if not make or not model:
        raise EmptyName("A catalog entry needs both a make and a model.")
    body = " ".join((entry.body_type or "").split()) or None
    fields = (("make", "make", make), ("model", "model", model), ("bodyType", "body_type", body))
    for name, column, text in fields:
        check_text(name, text)
        if text and len(text) > CATALOG_LENGTHS[column]:
            raise InvalidInput(f"`{name}` is longer than {CATALOG_LENGTHS[column]} characters.")
    years = [y for y in (entry.year_from, entry.year_to) if y is not None]
    if any(not FIRST_YEAR <= y <= LAST_YEAR for y in years):
        raise InvalidInput(f"Years must be between {FIRST_YEAR} and {LAST_YEAR}.")
    if (
        entry.year_from is not None
        and entry.year_to is not None
        and entry.year_from > entry.year_to
    ):
        raise InvalidInput("`yearFrom` must not be after `yearTo`.")
    row = CatalogEntryRow(
        make=make,
        model=model,
        body_type=body,
        year_from=entry.year_from,
        year_to=entry.year_to,
        enabled=entry.enabled,
        key="",
    )
    row.key = catalog_key(entry_label(row))
    # Lower case can be longer: "İ" is two characters in it ("i" and a dot).
    if len(row.key) > CATALOG_LENGTHS["key"]:
        raise InvalidInput(
            f"The label is {len(row.key)} characters long in lower case (the form duplicates"
            f" are told by), more than the {CATALOG_LENGTHS['key']} it may have."
        )
    return row


def _check_filters(search: str | None, make: str | None) -> None:
    # No label is longer than a key, nor a make than its column: a longer
    # filter could match nothing (and SQLite refuses LIKE patterns of 50 KB).
    check_text("search", search, longest=CATALOG_LENGTHS["key"])
    check_text("make", make, longest=CATALOG_LENGTHS["make"])


async def list_entries(
    svc: Services,
    *,
    first: int,
    after: str | None = None,
    search: str | None = None,
    make: str | None = None,
) -> EntryPage:
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise InvalidInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}.")
    _check_filters(search, make)
    after_id = decode_cursor(after) if after else None
    async with svc.session() as session:
        rows = await db_catalog.list_entries(
            session, search=search, make=make, after_id=after_id, limit=first + 1
        )
    return EntryPage(rows[:first], len(rows) > first, after_id is not None)


async def count_entries(svc: Services, *, search: str | None, make: str | None) -> int:
    _check_filters(search, make)
    async with svc.session() as session:
        return await db_catalog.count_entries(session, search=search, make=make)


async def add_entries(
    svc: Services, entries: Sequence[NewEntry]
) -> list[CatalogEntryRow | AppError]:
    """One outcome per entry, in order; the valid ones are added together.
    An entry already stored, or stored by another client while this runs, is
    DUPLICATE; so is the second of the same label in one batch."""
    limit = svc.settings.max_batch_ids
    if len(entries) > limit:
        raise TooMany(f"At most {limit} entries can be added at once; got {len(entries)}.")
    outcomes: list[CatalogEntryRow | AppError] = []
    wanted: dict[str, CatalogEntryRow] = {}
    for entry in entries:
        try:
            row = _clean(entry)
        except AppError as exc:
            outcomes.append(exc)
            continue
        if row.key in wanted:
            outcomes.append(_duplicate(row))
        else:
            wanted[row.key] = row
            outcomes.append(row)
    if not wanted:
        return outcomes
    async with svc.session(write=True) as session:
        stored = {
            row.key: row
            for row in await db_catalog.insert_entries(session, entries=list(wanted.values()))
        }
        await session.commit()
    # A valid entry that was not stored lost to one already there, or to one
    # another client stored while this ran.
    return [
        stored.get(o.key) or _duplicate(o) if isinstance(o, CatalogEntryRow) else o
        for o in outcomes
    ]


def _duplicate(row: CatalogEntryRow) -> Duplicate:
    return Duplicate(f"{entry_label(row)!r} is already in the catalog.")


async def update_entry(
    svc: Services, entry_id: str | int, changes: EntryChanges
) -> CatalogEntryRow:
    number = parse_entry_id(entry_id)
    async with svc.session(write=True) as session:
        row = await db_catalog.get_entry(session, entry_id=number)
        if row is None:
            raise NotFound(f"No catalog entry with id {number}.")
        merged = NewEntry(
            make=changes.values.get("make", row.make),
            model=changes.values.get("model", row.model),
            body_type=changes.values.get("body_type", row.body_type),
            year_from=changes.values.get("year_from", row.year_from),
            year_to=changes.values.get("year_to", row.year_to),
            enabled=changes.values.get("enabled", row.enabled),
        )
        cleaned = _clean(merged)
        if cleaned.key != row.key and await db_catalog.existing_keys(session, keys=[cleaned.key]):
            raise _duplicate(cleaned)
        for name in ("make", "model", "body_type", "year_from", "year_to", "enabled", "key"):
            setattr(row, name, getattr(cleaned, name))
        # False: another client took the label between the check above and now.
        if not await db_catalog.save_entry(session, entry=row):
            raise _duplicate(cleaned)
        await session.commit()
        return row


async def remove_entries(svc: Services, ids: Sequence[str | int]) -> list[int | AppError]:
    limit = svc.settings.max_batch_ids
    if len(ids) > limit:
        raise TooMany(f"At most {limit} entries can be removed at once; got {len(ids)}.")
    parsed: list[int | AppError] = []
    for value in ids:
        try:
            parsed.append(parse_entry_id(value))
        except AppError as exc:
            parsed.append(exc)
    wanted = [p for p in parsed if isinstance(p, int)]
    async with svc.session(write=True) as session:
        removed = set(await db_catalog.delete_entries(session, ids=wanted)) if wanted else set()
        await session.commit()
    return [
        p if not isinstance(p, int) or p in removed else NotFound(f"No catalog entry with id {p}.")
        for p in parsed
    ]
