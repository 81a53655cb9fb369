"""The catalog of car names the zero-shot backend chooses from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import Info

from db.models import CATALOG_LENGTHS, CatalogEntryRow
from errors import AppError
from recognition.prompts import entry_label
from resolvers import catalog
from resolvers.catalog import EntryChanges, NewEntry
from resolvers.ids import encode_cursor, global_id
from schema.context import Context
from schema.errors import UserError
from schema.files import PageInfo


@strawberry.type(description="A car model the zero-shot recognizer can name.")
class CatalogEntry:
    database_id: int = strawberry.field(description="The integer id REST uses.")
    make: str = strawberry.field(description='The manufacturer, e.g. "Tesla".')
    model: str = strawberry.field(description='The model without make or year, e.g. "Model Y".')
    body_type: str | None = strawberry.field(description='e.g. "SUV", "Coupe"; may be null.')
    year_from: int | None = strawberry.field(description="The first model year, if known.")
    year_to: int | None = strawberry.field(
        description="The last model year; null with `yearFrom` set means still made."
    )
    enabled: bool = strawberry.field(
        description="Switched-off entries stay in the catalog but are never predicted."
    )
    label: str = strawberry.field(
        description='Built from the fields, e.g. "Tesla Model Y SUV 2020+": predictions carry it.'
    )
    created_at: datetime = strawberry.field(description="When it was added (ISO 8601, UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (ISO 8601, UTC).")

    @strawberry.field(description="A global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(global_id("CatalogEntry", self.database_id))

    @classmethod
    def from_row(cls, row: CatalogEntryRow) -> CatalogEntry:
        return cls(
            database_id=row.id or 0,
            make=row.make,
            model=row.model,
            body_type=row.body_type,
            year_from=row.year_from,
            year_to=row.year_to,
            enabled=row.enabled,
            label=entry_label(row),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A catalog entry in a page, with its cursor.")
class CatalogEntryEdge:
    cursor: str = strawberry.field(
        description="Opaque; pass it as `after` to get the entries that follow this one."
    )
    node: CatalogEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of catalog entries, in the order they were added.")
class CatalogEntryConnection:
    edges: list[CatalogEntryEdge] = strawberry.field(
        description="The entries of this page with their cursors, oldest first."
    )
    page_info: PageInfo = strawberry.field(description="How to fetch the next page.")
    filter_search: strawberry.Private[str | None]
    filter_make: strawberry.Private[str | None]

    @strawberry.field(description="The entries of this page.")
    def nodes(self) -> list[CatalogEntry]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many entries match the filters, on all pages.")
    async def total_count(self, info: Info[Context, None]) -> int:
        return await catalog.count_entries(
            info.context.services, search=self.filter_search, make=self.filter_make
        )


@strawberry.input(description="A car model to add to the catalog.")
class CatalogEntryInput:
    make: str = strawberry.field(description='The manufacturer, e.g. "Tesla"; not empty.')
    model: str = strawberry.field(description='The model without make or year, e.g. "Model Y".')
    body_type: str | None = strawberry.field(
        default=None, description='e.g. "SUV", "Coupe"; it helps the zero-shot prompt.'
    )
    year_from: int | None = strawberry.field(
        default=None, description="The first model year, if known."
    )
    year_to: int | None = strawberry.field(
        default=None, description="Leave out for a model still made."
    )
    enabled: bool = strawberry.field(
        default=True, description="false adds the entry switched off (never predicted)."
    )


@strawberry.input(description="The fields to change; those left out keep their value.")
class CatalogEntryChanges:
    make: str | None = strawberry.field(
        default=strawberry.UNSET, description="The new make; it cannot be null or empty."
    )
    model: str | None = strawberry.field(
        default=strawberry.UNSET, description="The new model; it cannot be null or empty."
    )
    body_type: str | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it."
    )
    year_from: int | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it."
    )
    year_to: int | None = strawberry.field(default=strawberry.UNSET, description="null clears it.")
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="false switches the entry off without deleting it."
    )


@strawberry.type(description="The result of `addCatalogEntries`.")
class AddCatalogEntriesPayload:
    entries: list[CatalogEntry] = strawberry.field(description="The entries added, in order.")
    errors: list[UserError] = strawberry.field(
        description="One per entry refused (DUPLICATE, EMPTY_NAME, INVALID_INPUT), with its index."
    )


@strawberry.type(description="The result of `updateCatalogEntry`.")
class UpdateCatalogEntryPayload:
    entry: CatalogEntry | None = strawberry.field(
        description="The entry as it is now; null on error."
    )
    errors: list[UserError] = strawberry.field(
        description="Empty on success; else why nothing changed (NOT_FOUND, DUPLICATE, ...)."
    )


@strawberry.type(description="The result of `removeCatalogEntries`.")
class RemoveCatalogEntriesPayload:
    removed_ids: list[strawberry.ID] = strawberry.field(
        description="The global ids of the entries removed, in the order asked."
    )
    errors: list[UserError] = strawberry.field(
        description="One entry per id not removed, with its index in the list sent."
    )


@strawberry.type
class CatalogQueries:
    @strawberry.field(
        description="The names the zero-shot recognizer chooses from, a page at a time."
    )
    async def catalog(
        self,
        info: Info[Context, None],
        first: int = 20,
        after: str | None = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Part of the label, any case; at most"
                f" {CATALOG_LENGTHS['key']} characters (longer is INVALID_INPUT)."
            ),
        ] = None,
        make: Annotated[
            str | None,
            strawberry.argument(
                description="This make, any case; at most"
                f" {CATALOG_LENGTHS['make']} characters (longer is INVALID_INPUT)."
            ),
        ] = None,
    ) -> CatalogEntryConnection:
        page = await catalog.list_entries(
            info.context.services, first=first, after=after, search=search, make=make
        )
        edges = [
            CatalogEntryEdge(cursor=encode_cursor(r.id or 0), node=CatalogEntry.from_row(r))
            for r in page.rows
        ]
        return CatalogEntryConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            filter_search=search,
            filter_make=make,
        )


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(
        description="Add car models to the catalog; each entry succeeds or fails on its own. "
        "More than MAX_BATCH_IDS at once is refused as a whole (TOO_MANY)."
    )
    async def add_catalog_entries(
        self, info: Info[Context, None], entries: list[CatalogEntryInput]
    ) -> AddCatalogEntriesPayload:
        wanted = [
            NewEntry(e.make, e.model, e.body_type, e.year_from, e.year_to, e.enabled)
            for e in entries
        ]
        try:
            outcomes = await catalog.add_entries(info.context.services, wanted)
        except AppError as exc:
            return AddCatalogEntriesPayload(entries=[], errors=[UserError.of(exc)])
        added: list[CatalogEntry] = []
        problems: list[UserError] = []
        for index, (entry, outcome) in enumerate(zip(entries, outcomes, strict=True)):
            if isinstance(outcome, AppError):
                label = f"{entry.make} {entry.model}".strip()
                problems.append(UserError.of(outcome, index=index, input=label))
            else:
                added.append(CatalogEntry.from_row(outcome))
        return AddCatalogEntriesPayload(entries=added, errors=problems)

    @strawberry.mutation(description="Change a catalog entry, or switch it off or on.")
    async def update_catalog_entry(
        self, info: Info[Context, None], id: strawberry.ID, changes: CatalogEntryChanges
    ) -> UpdateCatalogEntryPayload:
        values = {
            name: getattr(changes, name)
            for name in ("make", "model", "body_type", "year_from", "year_to", "enabled")
            if getattr(changes, name) is not strawberry.UNSET
        }
        for required in ("make", "model", "enabled"):
            if required in values and values[required] is None:
                del values[required]  # null for a required field: keep it
        try:
            row = await catalog.update_entry(info.context.services, id, EntryChanges(values))
        except AppError as exc:
            return UpdateCatalogEntryPayload(entry=None, errors=[UserError.of(exc, input=id)])
        return UpdateCatalogEntryPayload(entry=CatalogEntry.from_row(row), errors=[])

    @strawberry.mutation(
        description="Delete catalog entries; each id succeeds or fails on its own."
    )
    async def remove_catalog_entries(
        self, info: Info[Context, None], ids: list[strawberry.ID]
    ) -> RemoveCatalogEntriesPayload:
        try:
            outcomes = await catalog.remove_entries(info.context.services, list(ids))
        except AppError as exc:
            return RemoveCatalogEntriesPayload(removed_ids=[], errors=[UserError.of(exc)])
        removed: list[strawberry.ID] = []
        problems: list[UserError] = []
        for index, (value, outcome) in enumerate(zip(ids, outcomes, strict=True)):
            if isinstance(outcome, AppError):
                problems.append(UserError.of(outcome, index=index, input=value))
            else:
                removed.append(strawberry.ID(global_id("CatalogEntry", outcome)))
        return RemoveCatalogEntriesPayload(removed_ids=removed, errors=problems)
