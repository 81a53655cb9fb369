"""The `stats` query: what the collection contains."""

from __future__ import annotations

import strawberry
from strawberry import Info

from resolvers import stats
from schema.context import Context
from schema.files import FileStatus


@strawberry.type(description="How many files have a given status.")
class StatusCount:
    status: FileStatus = strawberry.field(description="A status.")  # type: ignore[valid-type]
    count: int = strawberry.field(description="How many files have it.")


@strawberry.type(description="How many files have a given top-1 label.")
class LabelCount:
    label: str = strawberry.field(description='A class name, e.g. "BMW M3 Coupe 2012".')
    count: int = strawberry.field(description="How many files have it as their top-1.")


@strawberry.type(description="How many files have a given top-1 make.")
class MakeCount:
    make: str = strawberry.field(description='A manufacturer, e.g. "BMW".')
    count: int = strawberry.field(description="How many files have it as their top-1 make.")


@strawberry.type(description="How many files have a given top-1 make and model.")
class ModelCount:
    make: str = strawberry.field(description='The manufacturer, e.g. "BMW".')
    model: str = strawberry.field(description='The model, e.g. "M3".')
    count: int = strawberry.field(description="How many files have it as their top-1.")


@strawberry.type(description="Files whose top-1 confidence lies in [low, high).")
class ConfidenceBucket:
    low: float = strawberry.field(description="The lower bound, inclusive, from 0 to 1.")
    high: float = strawberry.field(
        description="The upper bound, exclusive (the last bucket includes 1)."
    )
    count: int = strawberry.field(description="How many recognized files fall in it.")


@strawberry.type(description="How many failed files share a reason.")
class FailureCount:
    reason: str = strawberry.field(description="The error message stored on the files.")
    count: int = strawberry.field(description="How many files failed with it.")


@strawberry.type(description="What the collection contains, computed in the database.")
class Stats:
    total_files: int = strawberry.field(description="All files stored, whatever their status.")
    processed_files: int = strawberry.field(description="Files recognized (status DONE).")
    unprocessed_files: int = strawberry.field(
        description="Files not recognized yet, or failed: `totalFiles - processedFiles`."
    )
    by_status: list[StatusCount] = strawberry.field(
        description="How many files are in each status; statuses with no file are left out."
    )
    top_brands: list[LabelCount] = strawberry.field(
        description="The ten most frequent top-1 labels (the original service's `top_brands`)."
    )
    top_makes: list[MakeCount] = strawberry.field(
        description="The ten most frequent makes, by top-1."
    )
    top_models: list[ModelCount] = strawberry.field(
        description="The ten most frequent models, by top-1."
    )
    confidence_histogram: list[ConfidenceBucket] = strawberry.field(
        description="Top-1 confidence of recognized files, in ten buckets."
    )
    low_confidence_threshold: float = strawberry.field(
        description="The server's LOW_CONFIDENCE threshold `lowConfidenceCount` uses, 0 to 1."
    )
    low_confidence_count: int = strawberry.field(
        description="Recognized files whose top-1 confidence is below the threshold."
    )
    failures: list[FailureCount] = strawberry.field(
        description="Why files failed, most common first."
    )
    mean_inference_ms: float | None = strawberry.field(
        description="Mean recognition time of recognized files, in milliseconds."
    )


@strawberry.type
class StatsQueries:
    @strawberry.field(description="Statistics of the whole collection.")
    async def stats(self, info: Info[Context, None]) -> Stats:
        s = await stats.collection_stats(info.context.services)
        return Stats(
            total_files=s.total_files,
            processed_files=s.processed_files,
            unprocessed_files=s.total_files - s.processed_files,
            by_status=[StatusCount(status=k, count=v) for k, v in s.by_status.items()],
            top_brands=[LabelCount(label=label, count=n) for label, n in s.top_labels],
            top_makes=[MakeCount(make=make, count=n) for make, n in s.top_makes],
            top_models=[
                ModelCount(make=make, model=model, count=n) for make, model, n in s.top_models
            ],
            confidence_histogram=[
                ConfidenceBucket(low=b.low, high=b.high, count=b.count) for b in s.confidence
            ],
            low_confidence_threshold=s.low_confidence_threshold,
            low_confidence_count=s.low_confidence,
            failures=[FailureCount(reason=reason, count=n) for reason, n in s.failures],
            mean_inference_ms=s.mean_inference_ms,
        )
