"""Recognizing stored files: the status moves pending → processing → done or
failed, and the predictions are stored with who made them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from db import files as db_files
from db.catalog import catalog_version
from db.models import FileRow, FileStatus, PredictionRow
from db.predictions import known_predictions
from db.types import utcnow
from db.vehicles import replace_vehicles
from errors import AppError, RecognizerUnavailable, UpstreamError
from events import FileEventKind
from recognition.base import DEFAULT_INPUT_SIDE, Guess, ImageRef, Recognition
from recognition.crops import preview_ref
from recognition.labels import parse_label
from resolvers import vehicles
from resolvers.files import check_ids, get_file
from resolvers.ids import parse_file_id
from services import Services
from storage.objects import PREVIEW_SIZE, image_key, preview_key

log = logging.getLogger("cars.inference")


async def infer_file(svc: Services, file_id: str | int) -> FileRow:
    """Recognize one file. Raises NotFound, RecognizerUnavailable (the file stays
    pending) or UpstreamError (the file is marked failed, with the reason)."""
    number = parse_file_id(file_id)  # NotFound for a malformed id, before any wait
    async with svc.file_lock(number):
        row = await get_file(svc, number)  # as it is now, after any recognition we waited for
        assert row.id is not None
        current = (svc.recognizer.model_id, vehicles.current_detector(svc))
        if has_results(row, *current, await current_catalog(svc)):
            # Already this model's results. Listeners still hear that it is
            # done, so progress counted from events reaches 100%.
            svc.events.publish(FileEventKind.DONE, row)
            return row
        known = await _known(svc, row)
        if known is not None:
            return await _store(svc, row, known)
        await _set(svc, row, FileStatus.PROCESSING)
        try:
            async with _source(svc, row) as ref:
                if ref is None:
                    outcome: Recognition | AppError = UpstreamError(
                        "The image is missing from storage."
                    )
                else:
                    [outcome] = await svc.recognizer.recognize([ref])
        except RecognizerUnavailable:
            await _set(svc, row, FileStatus.PENDING)  # nothing is lost: it can be tried again
            raise
        except BaseException as exc:
            # A bug, or the request was cancelled: never leave the file `processing`.
            await asyncio.shield(_set(svc, row, FileStatus.FAILED, "Recognition was interrupted."))
            if isinstance(exc, Exception):
                log.exception("recognition of file %s failed", row.id)
            raise
        if isinstance(outcome, AppError):
            await _set(svc, row, FileStatus.FAILED, outcome.message)
            raise outcome if isinstance(outcome, UpstreamError) else UpstreamError(outcome.message)
        try:
            return await _store(svc, row, outcome)
        except BaseException:
            # The results could not be written (the database went away, say):
            # the file must not stay `processing`; it can be recognized again.
            await asyncio.shield(_release(svc, row.id or 0))
            raise


@asynccontextmanager
async def _source(svc: Services, row: FileRow) -> AsyncIterator[ImageRef | None]:
    """What recognition reads: the preview made at upload when it covers the
    model's input (a small JPEG: with S3, the original is not even downloaded),
    else the original, as before previews (a detector looks for small vehicles
    in more pixels; images uploaded before previews have none)."""
    fit = getattr(svc.recognizer, "input_side", DEFAULT_INPUT_SIDE)
    if vehicles.current_detector(svc) is None:
        async with svc.objects.local_file(preview_key(row.sha256)) as preview:
            ref = None
            if preview is not None:
                ref = preview_ref(
                    preview, width=row.width, height=row.height, side=PREVIEW_SIZE, fit=fit
                )
            if ref is not None:
                yield ref
                return
    async with svc.objects.local_file(image_key(row.sha256)) as path:
        yield (
            None
            if path is None
            else ImageRef(path, row.mime_type, width=row.width, height=row.height)
        )


async def infer_files(svc: Services, file_ids: Sequence[str | int]) -> list[FileRow | AppError]:
    """Recognize several files, a few at a time; one outcome per id, in order.
    Files in flight together are batched by the local model."""
    check_ids(file_ids, limit=svc.settings.max_batch_ids)
    slots = asyncio.Semaphore(svc.settings.infer_concurrency)

    async def one(file_id: str | int) -> FileRow | AppError:
        async with slots:
            try:
                return await infer_file(svc, file_id)
            except AppError as exc:
                return exc

    return list(await asyncio.gather(*(one(i) for i in file_ids)))


async def _known(svc: Services, row: FileRow) -> Recognition | None:
    """What the current model already said about these bytes (the same sha256,
    in any file), ready to store again; None when it never saw them."""
    if svc.recognizer.backend == "zero-shot":
        return None  # its answers change with the catalog: never reuse them
    started = time.perf_counter()
    model_id = svc.recognizer.model_id
    async with svc.session() as session:
        known = await known_predictions(session, sha256=row.sha256, model_id=model_id)
    if not known:
        return None
    recognition = Recognition(
        guesses=[Guess(p.label, p.confidence, p.make, p.model, p.body_type, p.year) for p in known],
        model_id=model_id,
        backend=svc.recognizer.backend,
        elapsed_ms=0,
    )
    recalled = await vehicles.recall(svc, recognition, known[0].file_id)
    if recalled is None:
        return None
    return dataclasses.replace(recalled, elapsed_ms=(time.perf_counter() - started) * 1000)


async def _store(svc: Services, row: FileRow, recognition: Recognition) -> FileRow:
    predictions = []
    for guess in recognition.guesses:
        # A catalog backend knows the parts; a classifier's label is parsed.
        parts = guess if guess.make is not None else parse_label(guess.label)
        predictions.append(
            PredictionRow(
                file_id=row.id or 0,
                rank=0,
                label=guess.label,
                confidence=guess.score,
                make=parts.make,
                model=parts.model,
                body_type=parts.body_type,
                year=parts.year,
            )
        )
    async with svc.session(write=True) as session:
        # Under the file's row lock: a job run twice (its worker died after this
        # commit, before the queue heard) or by two workers at once stores this
        # model's results once, and a file deleted meanwhile gets none.
        current = await db_files.lock_file(session, file_id=row.id or 0)
        if current is None:
            return row  # deleted while it was recognized: nothing to store
        if not has_results(
            current, recognition.model_id, recognition.detector, recognition.catalog_version
        ):
            await db_files.store_predictions(
                session,
                row=current,
                predictions=predictions,
                verdict=recognition.verdict,
                catalog_version=recognition.catalog_version,
            )
            await replace_vehicles(
                session, file_id=row.id or 0, vehicles=vehicles.to_rows(recognition)
            )
            vehicles.mark_color(current, recognition)
            _mark_done(current, recognition.model_id, recognition.backend, recognition.elapsed_ms)
            session.add(current)
            await session.commit()
    svc.events.publish(FileEventKind.DONE, current)
    return current


async def current_catalog(svc: Services) -> int | None:
    """The catalog version the recognizer names from now; None for backends
    whose answers do not depend on the catalog (the classifiers)."""
    if svc.recognizer.backend != "zero-shot":
        return None
    async with svc.session() as session:
        return await catalog_version(session)


def has_results(row: FileRow, model_id: str, detector: str | None, catalog: int | None) -> bool:
    """The file holds this model's results, found with this detector (or none)
    and, for zero-shot, named from this catalog version (an edited catalog may
    name the car differently)."""
    return (
        row.status is FileStatus.DONE
        and row.model_id == model_id
        and row.detector == detector
        and row.catalog_version == catalog
    )


def _mark_done(row: FileRow, model_id: str, backend: str, elapsed_ms: float) -> None:
    row.status = FileStatus.DONE
    row.error = None
    row.processed_at = utcnow()
    row.model_id = model_id
    row.backend = backend
    row.inference_ms = round(elapsed_ms, 2)


async def _release(svc: Services, file_id: int) -> None:
    """Put a file whose results were lost back to pending. The database may be
    what failed: then keep trying in the background, so that the file is not
    left `processing` until the next start-up."""
    try:
        await _release_once(svc, file_id)
    except AppError as exc:
        log.warning("file %s is left processing for now: %s", file_id, exc.message)
        _in_background(_release_later(svc, file_id))


async def _release_later(svc: Services, file_id: int, attempts: int = 60) -> None:
    for _ in range(attempts):
        await asyncio.sleep(1)
        try:
            await _release_once(svc, file_id)
            return
        except AppError:
            continue
    log.error("file %s stays processing until the next start-up", file_id)


async def _release_once(svc: Services, file_id: int) -> None:
    async with svc.session(write=True) as session:
        await db_files.release_file(session, file_id=file_id)
        await session.commit()
    svc.events.publish(FileEventKind.PENDING, await get_file(svc, file_id))


_background: set[asyncio.Task[None]] = set()


def _in_background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _background.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_background.discard)


async def _set(svc: Services, row: FileRow, status: FileStatus, error: str | None = None) -> None:
    async with svc.session(write=True) as session:
        await db_files.set_status(session, row=row, status=status, error=error)
        await session.commit()
    svc.events.publish(FileEventKind(status.value), row)
