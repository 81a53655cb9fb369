"""The JSON shapes that existing clients read (docs/rest-compat.md). Fields listed
there are never renamed or retyped; new ones are added beside them."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from db.models import FileRow, FileStatus, PredictionRow
from resolvers.stats import Stats


def prediction(row: PredictionRow) -> dict[str, Any]:
    return {
        "label": row.label,
        "confidence": round(row.confidence, 4),
        "make": row.make,
        "model": row.model,
        "body_type": row.body_type,
        "year": row.year,
    }


def image_metadata(row: FileRow, predictions: Sequence[PredictionRow]) -> dict[str, Any]:
    processed = row.status is FileStatus.DONE
    return _metadata(
        row.id, row.filename, row.mime_type, row.size, row.status.value, row.error, row.width,
        row.height, row.sha256, row.uploaded_at.isoformat(),
        row.processed_at.isoformat() if row.processed_at else None,
        row.model_id, row.backend, row.inference_ms,
        results=[prediction(p) for p in predictions] if processed else None,
    )  # fmt: skip


def listed_metadata(fields: Sequence[Any], predictions: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """`image_metadata` for the listing: a file as db/listing.FILE_FIELDS lays it
    out (times as datetimes, for orjson), its predictions as PREDICTION_FIELDS."""
    processed = fields[4] == FileStatus.DONE.value
    results = (
        [
            {"label": label, "confidence": round(confidence, 4), "make": make,
             "model": model, "body_type": body_type, "year": year}
            for label, confidence, make, model, body_type, year in predictions
        ]
        if processed
        else None
    )  # fmt: skip
    return _metadata(*fields, results=results)


def listed_json(fields: Sequence[Any], predictions: Sequence[Sequence[Any]]) -> bytes:
    """One element of the listing, as orjson writes it (datetimes as isoformat())."""
    # Copied: orjson leaves its result in a buffer of 4 KB or more, and a slice
    # of the listing holds thousands of them.
    return memoryview(orjson.dumps(listed_metadata(fields, predictions))).tobytes()


# Samples in the layouts of db/listing.py, one in each kind of state.
_SAMPLES: tuple[tuple[tuple[Any, ...], tuple[tuple[Any, ...], ...]], ...] = (
    (
        (7, "façade \"1\".jpg", "image/jpeg", 123, "done", None, 640, 480, "ab" * 32,
         datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
         datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC), "org/model", "local", 12.345678),
        (("BMW M3 Coupe 2012", 0.973156, "BMW", "M3", "Coupe", 2012),
         ("Audi S4 Sedan 2012", 1e-05, None, None, None, None)),
    ),
    (
        (8, "b.png", "image/png", 1, "failed", "The recognizer failed: 502.", 1, 1, "cd" * 32,
         datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC), None, None, None),
        (),
    ),
    (
        (9, "c.webp", "image/webp", 2, "pending", None, 2, 2, "ef" * 32,
         datetime(2026, 1, 2, tzinfo=UTC), None, None, None, None),
        (("Ford F-150 Regular Cab 2012", 0.5, "Ford", "F-150", "Regular Cab", 2012),),
    ),
)  # fmt: skip


@functools.cache
def listing_shape() -> str:
    """A name for how `listed_json` renders: the listing's cache keeps bodies
    under it (db/listing.py), so that a release that renders differently never
    serves bodies an older one kept. It changes with what the samples render
    and with the rendering code itself."""
    digest = hashlib.blake2b(digest_size=16)
    for fields, predictions in _SAMPLES:
        digest.update(listed_json(fields, predictions))
    for function in (listed_json, listed_metadata, _metadata):
        with contextlib.suppress(OSError):  # no source at hand: the samples alone
            digest.update(inspect.getsource(function).encode())
    return digest.hexdigest()


def _metadata(
    file_id: int | None, filename: str, mime_type: str, size: int, status: str,
    error: str | None, width: int, height: int, sha256: str, uploaded_at: str | datetime,
    processed_at: str | datetime | None, model_id: str | None, backend: str | None,
    inference_ms: float | None, *, results: list[dict[str, Any]] | None,
) -> dict[str, Any]:  # fmt: skip
    """ImageMetadata: the original's fields first, then ours."""
    return {
        "id": file_id,
        "filename": filename,
        "path": f"/files/{file_id}/image",
        "upload_date": uploaded_at,
        "processed": status == "done",
        "results": results,
        "mime_type": mime_type,
        "size_bytes": size,
        "status": status,
        "error": error,
        "width": width,
        "height": height,
        "sha256": sha256,
        "thumbnail_url": f"/files/{file_id}/thumbnail",
        "processed_at": processed_at,
        "model_id": model_id,
        "backend": backend,
        "inference_ms": inference_ms,
    }


def inference_response(row: FileRow, predictions: Sequence[PredictionRow]) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "predictions": [prediction(p) for p in predictions],
        "status": row.status.value,
        "model_id": row.model_id,
        "backend": row.backend,
        "inference_ms": row.inference_ms,
    }


def stats(s: Stats) -> dict[str, Any]:
    return {
        "total_files": s.total_files,
        "processed_files": s.processed_files,
        "unprocessed_files": s.total_files - s.processed_files,
        "top_brands": [{"label": label, "count": n} for label, n in s.top_labels],
        "by_status": {status.value: n for status, n in s.by_status.items()},
        "top_makes": [{"make": make, "count": n} for make, n in s.top_makes],
        "top_models": [
            {"make": make, "model": model, "count": n} for make, model, n in s.top_models
        ],
        "confidence_histogram": [
            {"low": b.low, "high": b.high, "count": b.count} for b in s.confidence
        ],
        "low_confidence": {"threshold": s.low_confidence_threshold, "count": s.low_confidence},
        "failures": [{"reason": reason, "count": n} for reason, n in s.failures],
        "mean_inference_ms": s.mean_inference_ms,
    }
