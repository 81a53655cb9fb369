"""The JSON shapes that existing clients read (REST_COMPAT.md). Fields listed
there are never renamed or retyped; new ones are added beside them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db.files import FileRow, FileStatus
from db.predictions import PredictionRow
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
    return {
        "id": row.id,
        "filename": row.filename,
        "path": f"/files/{row.id}/image",
        "upload_date": row.uploaded_at.isoformat(),
        "processed": processed,
        "results": [prediction(p) for p in predictions] if processed else None,
        "mime_type": row.mime_type,
        "size_bytes": row.size,
        "status": row.status.value,
        "error": row.error,
        "width": row.width,
        "height": row.height,
        "sha256": row.sha256,
        "thumbnail_url": f"/files/{row.id}/thumbnail",
        "processed_at": row.processed_at.isoformat() if row.processed_at else None,
        "model_id": row.model_id,
        "backend": row.backend,
        "inference_ms": row.inference_ms,
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
