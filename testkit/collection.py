"""Rows written straight into the database, to measure queries at scale."""

from __future__ import annotations

import asyncio
import hashlib
import random
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine
from db.migrate import migrate
from db.models import FileRow, FileStatus, PredictionRow


def _labels() -> list[str]:
    from pathlib import Path

    shared = Path(__file__).parent / "stanford_cars_classes.txt"
    if shared.exists():
        return [line.strip() for line in shared.read_text().splitlines() if line.strip()]
    return [f"Make{i} Model{i} Sedan 2012" for i in range(196)]


async def _fill(engine: AsyncEngine, count: int, *, start: int) -> None:
    labels = _labels()
    rng = random.Random(start)
    now = datetime.now(UTC)
    # Files at rest: a QUEUED file would be recognized in the background while
    # the collection is measured, and change under the measurement.
    statuses = [status for status in FileStatus if status is not FileStatus.QUEUED]
    async with engine.begin() as connection:
        for first in range(start, start + count, 2000):
            ids = range(first, min(first + 2000, start + count))
            files = []
            predictions = []
            for i in ids:
                digest = hashlib.sha256(str(i).encode()).hexdigest()
                status = rng.choice(statuses)
                guesses = []
                if status is FileStatus.DONE:
                    for rank in range(1, 6):
                        label = rng.choice(labels)
                        guesses.append(
                            {
                                "file_id": i,
                                "rank": rank,
                                "label": label,
                                "confidence": rng.random() / rank,
                                "make": label.split()[0],
                                "model": None,
                                "body_type": None,
                                "year": None,
                            }
                        )
                best = guesses[0] if guesses else {}
                files.append(
                    {
                        "id": i,
                        "filename": f"car-{i}.jpg",
                        "stored_key": f"{digest[:2]}/{digest}",
                        "sha256": digest,
                        "mime_type": "image/jpeg",
                        "size": 1_000_000,
                        "width": 4000,
                        "height": 3000,
                        "uploaded_at": now,
                        "status": status,
                        # the best guess, as store_predictions keeps it on the row
                        "top_label": best.get("label"),
                        "top_make": best.get("make"),
                        "top_model": best.get("model"),
                        "top_confidence": best.get("confidence"),
                    }
                )
                predictions += guesses
            await connection.execute(insert(FileRow), files)
            if predictions:
                await connection.execute(insert(PredictionRow), predictions)


def grow(database_url: str, *, to: int, have: int) -> None:
    """Add rows until the collection holds `to` files."""

    async def run() -> None:
        engine = create_engine(database_url)
        await migrate(engine)
        await _fill(engine, to - have, start=have + 1)
        await engine.dispose()

    asyncio.run(run())
