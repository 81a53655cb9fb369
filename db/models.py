"""The tables: one SQLModel class per table, with the enums their columns take.

The queries live beside their domain (db/files.py, db/predictions.py, ...);
the rows live here, so that any module of db/ can name any table without
importing another domain's queries (db/files.py and db/predictions.py used to
import each other for that). Alembic's migrations are generated from the
metadata these classes fill (db/migrations/env.py).
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime, utcnow


class FileStatus(enum.StrEnum):
    PENDING = "pending"
    QUEUED = "queued"  # a recognition job waits for it (migration 0004)
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


# Statistics group the reasons of failed files from an index of those files
# alone (ix_files_failure_reasons). A reason longer than this many characters
# could outgrow a PostgreSQL index entry (about 2.7 KB): such files are left out
# of it and counted through a small index of their own.
REASON_INDEXED_UP_TO = 500
SHORT_FAILURE = f"status = 'failed' AND coalesce(length(error), 0) <= {REASON_INDEXED_UP_TO}"
LONG_FAILURE = f"status = 'failed' AND length(error) > {REASON_INDEXED_UP_TO}"


class FileRow(SQLModel, table=True):
    __tablename__ = "files"
    # Never reuse the id of a deleted file: ids appear in image URLs, cursors and
    # client caches. PostgreSQL sequences never do; SQLite needs AUTOINCREMENT.
    __table_args__ = (
        # Statistics group and count the best guesses of the files that are done;
        # these indexes cover those queries, so they read no table rows.
        sa.Index("ix_files_status_top_label", "status", "top_label"),
        sa.Index("ix_files_status_top_make_model", "status", "top_make", "top_model"),
        sa.Index("ix_files_status_top_confidence", "status", "top_confidence", "inference_ms"),
        sa.Index(
            "ix_files_failure_reasons",
            "status",  # first, as in the other indexes, so that SQLite's planner takes it
            "error",
            sqlite_where=sa.text(SHORT_FAILURE),
            postgresql_where=sa.text(SHORT_FAILURE),
        ),
        sa.Index(
            "ix_files_long_failures",
            "status",
            "id",
            sqlite_where=sa.text(LONG_FAILURE),
            postgresql_where=sa.text(LONG_FAILURE),
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=255)  # for display, already cleaned
    stored_key: str = Field(max_length=128, index=True)  # where the bytes are
    sha256: str = Field(max_length=64, index=True)
    mime_type: str = Field(max_length=64)  # detected from the content
    size: int = Field(sa_type=sa.BigInteger)
    width: int
    height: int
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: FileStatus = Field(
        default=FileStatus.PENDING,
        index=True,
        sa_type=sa.Enum(
            FileStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
    )
    error: str | None = Field(default=None, sa_type=sa.Text)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who produced the current predictions, and how long it took them.
    model_id: str | None = Field(default=None, max_length=255)
    backend: str | None = Field(default=None, max_length=32)
    inference_ms: float | None = None
    # The best guess (the rank 1 prediction), copied onto the file so that
    # statistics and the make filter read indexed columns instead of joining the
    # predictions. store_predictions and reset_to_pending keep them in step.
    top_label: str | None = Field(default=None, max_length=255)
    top_make: str | None = Field(default=None, max_length=64)
    top_model: str | None = Field(default=None, max_length=128)
    top_confidence: float | None = None
    # Raised by the database itself (triggers, migration 0009) on every change
    # to the row or to its predictions, whoever writes them: what a cache of
    # the file's rendering is keyed by (db/listing.py). Read it from the
    # database; a loaded row does not follow the triggers.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # The colour of what the predictions describe (the main vehicle, or the
    # whole photo), and the detector that looked for vehicles, if one did.
    color: str | None = Field(default=None, max_length=16)
    color_confidence: float | None = None
    detector: str | None = Field(default=None, max_length=255)
    # What the photo shows ("car", "not_car", "unsure"); null until done.
    verdict: str | None = Field(default=None, max_length=16)
    # The catalog version the results were named from (zero-shot backend; null
    # for classifiers): results of an older catalog are not this model's results.
    catalog_version: int | None = None


class PredictionRow(SQLModel, table=True):
    __tablename__ = "predictions"
    __table_args__ = (sa.UniqueConstraint("file_id", "rank"),)

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    rank: int  # 1 is the most confident
    label: str = Field(max_length=255)
    confidence: float
    make: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    body_type: str | None = Field(default=None, max_length=64)
    year: int | None = None


class VehicleRow(SQLModel, table=True):
    __tablename__ = "vehicles"
    __table_args__ = (sa.UniqueConstraint("file_id", "rank"),)

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    rank: int  # 1 is the main vehicle: the largest box
    # The box, in pixels of the photo as displayed.
    x: int
    y: int
    width: int
    height: int
    score: float  # the detector's confidence
    kind: str = Field(max_length=16)  # car, truck, bus or motorcycle
    color: str | None = Field(default=None, max_length=16)
    color_confidence: float | None = None


class VehiclePredictionRow(SQLModel, table=True):
    __tablename__ = "vehicle_predictions"
    __table_args__ = (sa.UniqueConstraint("vehicle_id", "rank"),)

    id: int | None = Field(default=None, primary_key=True)
    vehicle_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("vehicles.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    rank: int  # 1 is the most confident
    label: str = Field(max_length=255)
    confidence: float
    make: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    body_type: str | None = Field(default=None, max_length=64)
    year: int | None = None


class BlobState(enum.StrEnum):
    LIVE = "live"  # the object is there, or an upload holding a claim is putting it
    DELETING = "deleting"  # the object is being removed; nothing may use it


class BlobRow(SQLModel, table=True):
    __tablename__ = "blobs"

    sha256: str = Field(primary_key=True, max_length=64)
    # Changes whenever the row is made anew: an upload that sees the same epoch
    # before its put and at its commit knows no delete ran in between.
    epoch: str = Field(max_length=32)
    state: BlobState = Field(
        default=BlobState.LIVE,
        index=True,
        sa_type=sa.Enum(
            BlobState, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
        ),
    )
    # Uploads between their claim and their commit. Counts only while
    # `touched_at` is within the grace period: a crashed upload never releases.
    pending: int = 0
    # Last claim (live), or when the delete began (deleting).
    touched_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The longest each catalog column holds, in characters (PostgreSQL's varchar
# counts characters; SQLite takes any length, so the resolver checks them).
CATALOG_LENGTHS = {"make": 64, "model": 128, "body_type": 64, "key": 300}


class CatalogEntryRow(SQLModel, table=True):
    __tablename__ = "catalog_entries"

    id: int | None = Field(default=None, primary_key=True)
    make: str = Field(max_length=CATALOG_LENGTHS["make"])
    model: str = Field(max_length=CATALOG_LENGTHS["model"])
    body_type: str | None = Field(default=None, max_length=CATALOG_LENGTHS["body_type"])
    year_from: int | None = None
    year_to: int | None = None
    enabled: bool = Field(default=True, index=True)
    # The label in lower case with single spaces: what duplicates are told by,
    # and what `search` looks in.
    key: str = Field(max_length=CATALOG_LENGTHS["key"], sa_column_kwargs={"unique": True})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CatalogStateRow(SQLModel, table=True):
    __tablename__ = "catalog_state"

    id: int = Field(default=1, primary_key=True)
    version: int = 0


class FileListingRow(SQLModel, table=True):
    """A file's element of the listing as it was rendered for one version of
    its row, by the rendering that `shape` names."""

    __tablename__ = "file_listings"

    file_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        )
    )
    version: int
    # Which rendering wrote it (rest/shapes.listing_shape): a release that
    # renders differently never serves what an older one kept.
    shape: str = Field(max_length=32)
    body: bytes = Field(sa_type=sa.LargeBinary)


class ListingPageRow(SQLModel, table=True):
    """The elements of the files with ids first_id..last_id, joined by commas,
    as they were when the page had this key (files, id_sum, version_sum)."""

    __tablename__ = "listing_pages"

    first_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_id: int
    shape: str = Field(max_length=32)
    files: int
    id_sum: int = Field(sa_type=sa.BigInteger)
    version_sum: int = Field(sa_type=sa.BigInteger)
    body: bytes = Field(sa_type=sa.LargeBinary)
