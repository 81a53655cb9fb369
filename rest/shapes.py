"""The JSON shapes that existing clients read (REST_COMPAT.md). Fields listed
there are never renamed or retyped; new ones are added beside them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db.files import FileRow, FileStatus
from db.predictions import PredictionRow


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
