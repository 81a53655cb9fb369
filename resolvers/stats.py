"""Statistics of the collection, the same for GraphQL `stats` and REST."""

from __future__ import annotations

from dataclasses import dataclass

from db import stats as db_stats
from db.models import FileStatus
from services import Services

TOP = 10


@dataclass(frozen=True)
class Bucket:
    low: float
    high: float
    count: int


@dataclass(frozen=True)
class Stats:
    total_files: int
    by_status: dict[FileStatus, int]
    top_labels: list[tuple[str, int]]  # the original's "top_brands": whole top-1 labels
    top_makes: list[tuple[str, int]]
    top_models: list[tuple[str, str, int]]  # make, model, count
    confidence: list[Bucket]  # top-1 confidence of every file that is done
    low_confidence_threshold: float
    low_confidence: int
    failures: list[tuple[str, int]]  # reason, count
    mean_inference_ms: float | None

    @property
    def processed_files(self) -> int:
        return self.by_status[FileStatus.DONE]


async def collection_stats(svc: Services) -> Stats:
    threshold = svc.settings.low_confidence_threshold
    async with svc.session() as session:
        counted = await db_stats.summary(session, threshold=threshold)
        labels = await db_stats.top_counts(session, columns=("label",), limit=TOP)
        makes = await db_stats.top_counts(session, columns=("make",), limit=TOP)
        models = await db_stats.top_counts(session, columns=("make", "model"), limit=TOP)
        failures = await db_stats.failure_reasons(session, limit=TOP)
    width = 1 / db_stats.BUCKETS
    return Stats(
        total_files=sum(counted.by_status.values()),
        by_status=counted.by_status,
        top_labels=[(str(c.key[0]), c.count) for c in labels],
        top_makes=[(str(c.key[0]), c.count) for c in makes],
        top_models=[(str(c.key[0]), str(c.key[1]), c.count) for c in models],
        confidence=[
            Bucket(round(i * width, 2), round((i + 1) * width, 2), n)
            for i, n in enumerate(counted.histogram)
        ],
        low_confidence_threshold=threshold,
        low_confidence=counted.low_confidence,
        failures=[(c.key[0] or "(no reason recorded)", c.count) for c in failures],
        mean_inference_ms=(
            None if counted.mean_inference_ms is None else round(counted.mean_inference_ms, 2)
        ),
    )
