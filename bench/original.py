"""The baseline: the original service's listing and statistics, re-implemented
as it worked, to be measured beside this server in the same run.

The original kept every file's metadata in one JSON file (METADATA_FILE), a
dict of ImageMetadata by id. `GET /files/` loaded that file with `json.load` and
returned its values through a JSON response (FastAPI's, which serializes with
the standard library's `json` as Starlette's JSONResponse does).
`GET /visualization/stats` loaded the same file and counted in Python. Run as
`uvicorn bench.original:app` with METADATA_FILE set; bench/scale.py writes the
file from the same collection this server lists.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _metadata() -> dict[str, Any]:
    with open(os.environ["METADATA_FILE"], encoding="utf-8") as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


async def list_files(_request: Request) -> JSONResponse:
    return JSONResponse(list(_metadata().values()))


async def stats(_request: Request) -> JSONResponse:
    files = list(_metadata().values())
    processed = [f for f in files if f["processed"] and f["results"]]
    top = Counter(f["results"][0]["label"] for f in processed)
    return JSONResponse(
        {
            "total_files": len(files),
            "processed_files": len(processed),
            "unprocessed_files": len(files) - len(processed),
            "top_brands": [{"label": k, "count": n} for k, n in top.most_common(10)],
        }
    )


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def write_metadata(listing: list[dict[str, Any]], path: Path) -> None:
    """The original's metadata file for a collection, from this server's listing:
    its own fields only (predictions as label and confidence), by id."""
    original = {
        str(f["id"]): {
            "id": f["id"],
            "filename": f["filename"],
            "path": f"uploads/{f['sha256']}.jpg",  # a server path, as the original kept
            "upload_date": f["upload_date"],
            "processed": f["processed"],
            "results": (
                [{"label": p["label"], "confidence": p["confidence"]} for p in f["results"]]
                if f["results"] is not None
                else None
            ),
            "mime_type": f["mime_type"],
            "size_bytes": f["size_bytes"],
        }
        for f in listing
    }
    path.write_text(json.dumps(original), encoding="utf-8")  # compact: the fastest to load


app = Starlette(
    routes=[
        Route("/files/", list_files),
        Route("/visualization/stats", stats),
        Route("/health", health),
    ]
)
