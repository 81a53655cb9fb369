"""Recognition as jobs: queueing files, what a job does, and the synchronous
routes' wait for their jobs.

With the in-process queue (the default) the synchronous routes recognize in the
request as they always did, and only recognizeFiles and uploads with `recognize`
go through the queue. With JOB_QUEUE=postgres every recognition is a job: a
synchronous route queues its files and waits for them, up to JOB_WAIT_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from db import files as db_files
from db.models import FileRow, FileStatus
from errors import (
    AppError,
    FellBehind,
    InvalidUpload,
    NotFound,
    RecognizerUnavailable,
    StillQueued,
    Unavailable,
    UpstreamError,
)
from events import FileEventKind
from resolvers import inference, uploads, vehicles
from resolvers.files import check_ids, rows_by_ids
from resolvers.ids import parse_file_id
from resolvers.uploads import Upload
from services import Services

log = logging.getLogger("cars.jobs")

# Settled: the job is over, whatever its outcome.
SETTLED = {FileStatus.DONE, FileStatus.FAILED, FileStatus.PENDING}
# A waiting request re-reads its files at least this often, events or not.
RECHECK_SECONDS = 1.0


async def queue_files(svc: Services, file_ids: Sequence[int]) -> dict[int, FileRow]:
    """Queue a recognition job for each file that exists; the files as they
    are now. A file that already has the current model's results stays DONE
    (listeners hear DONE again); one being recognized stays PROCESSING and gets
    no second job while its job lives."""
    if not file_ids:
        return {}
    model_id = svc.recognizer.model_id
    detector = vehicles.current_detector(svc)
    catalog = await inference.current_catalog(svc)
    changed: list[FileRow] = []
    done: list[FileRow] = []
    async with svc.session(write=True) as session:
        rows = await db_files.lock_files(session, ids=sorted(set(file_ids)))
        jobs: list[int] = []
        for row in rows:
            assert row.id is not None
            if inference.has_results(row, model_id, detector, catalog):
                done.append(row)
                continue
            jobs.append(row.id)
            if row.status is not FileStatus.PROCESSING and row.status is not FileStatus.QUEUED:
                await db_files.set_status(session, row=row, status=FileStatus.QUEUED)
                changed.append(row)
        await svc.jobs.add(session, jobs)
        await session.commit()
    svc.jobs.added(jobs)
    for row in changed:
        svc.events.publish(FileEventKind.QUEUED, row)
    for row in done:
        svc.events.publish(FileEventKind.DONE, row)
    return {row.id: row for row in rows if row.id is not None}


async def recognize_files(svc: Services, file_ids: Sequence[str | int]) -> list[FileRow | AppError]:
    """recognizeFiles: queue each file and answer at once; one outcome per id."""
    check_ids(file_ids, limit=svc.settings.max_batch_ids)
    numbers: list[int | AppError] = []
    for value in file_ids:
        try:
            numbers.append(parse_file_id(value))
        except AppError as exc:
            numbers.append(exc)
    found = await queue_files(svc, [n for n in numbers if isinstance(n, int)])
    return [
        n if isinstance(n, AppError) else found.get(n) or NotFound(f"No file with id {n}.")
        for n in numbers
    ]


async def upload_files(
    svc: Services, sent: Sequence[Upload], *, recognize: bool | None
) -> list[FileRow | InvalidUpload]:
    """Store uploads and, when asked (or AUTO_RECOGNIZE when not said), queue
    their recognition; the stored files are then QUEUED."""
    outcomes = await uploads.upload_files(svc, sent)
    if not (svc.settings.auto_recognize if recognize is None else recognize):
        return outcomes
    stored = [o.id for o in outcomes if isinstance(o, FileRow) and o.id is not None]
    queued = await queue_files(svc, stored)
    return [
        queued.get(o.id, o) if isinstance(o, FileRow) and o.id is not None else o for o in outcomes
    ]


async def upload_file(svc: Services, sent: Upload, *, recognize: bool | None) -> FileRow:
    outcome = (await upload_files(svc, [sent], recognize=recognize))[0]
    if isinstance(outcome, InvalidUpload):
        raise outcome
    return outcome


# ---- the synchronous routes -----------------------------------------------------


async def infer_file(svc: Services, file_id: str | int) -> FileRow:
    """inferFile and POST /inference/{id}: the file, recognized. Raises what
    inference.infer_file raises, and StillQueued past JOB_WAIT_SECONDS."""
    if svc.jobs.kind == "inprocess":
        return await inference.infer_file(svc, file_id)
    outcome = (await _queue_and_wait(svc, [file_id]))[0]
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


async def infer_files(svc: Services, file_ids: Sequence[str | int]) -> list[FileRow | AppError]:
    if svc.jobs.kind == "inprocess":
        return await inference.infer_files(svc, file_ids)
    check_ids(file_ids, limit=svc.settings.max_batch_ids)
    return await _queue_and_wait(svc, file_ids)


async def _queue_and_wait(svc: Services, file_ids: Sequence[str | int]) -> list[FileRow | AppError]:
    numbers: list[int | AppError] = []
    for value in file_ids:
        try:
            numbers.append(parse_file_id(value))
        except AppError as exc:
            numbers.append(exc)
    wanted = {n for n in numbers if isinstance(n, int)}
    wait = svc.settings.job_wait_seconds
    deadline = time.monotonic() + wait
    # Listen first: an event sent between queueing and listening would be missed.
    async with svc.events.listen(wanted) as listener:
        await queue_files(svc, sorted(wanted))
        while True:
            rows = await rows_by_ids(svc, sorted(wanted))
            busy = [r for r in rows.values() if r.status not in SETTLED]
            left = deadline - time.monotonic()
            if not busy or left <= 0:
                break
            pause = min(left, RECHECK_SECONDS)
            try:
                await asyncio.wait_for(listener.next(), timeout=pause)
            except TimeoutError:
                pass  # no news: read the files again anyway
            except FellBehind:
                await asyncio.sleep(pause)  # too many events: read the files now and then
    return [n if isinstance(n, AppError) else _outcome(n, rows.get(n), wait) for n in numbers]


def _outcome(file_id: int, row: FileRow | None, waited: float) -> FileRow | AppError:
    if row is None:
        return NotFound(f"No file with id {file_id}.")
    if row.status is FileStatus.DONE:
        return row
    if row.status is FileStatus.FAILED:
        return UpstreamError(row.error or "Recognition failed.")
    if row.status is FileStatus.PENDING:
        return RecognizerUnavailable(
            row.error or "The recognizer is unavailable; the file is pending again."
        )
    return StillQueued(
        f"File {file_id} is still {row.status.value} after {waited:g} s; its recognition goes"
        " on. Read the file later, or watch it with the fileEvents subscription."
    )


# ---- what a job does -------------------------------------------------------------


async def run_job(svc: Services, file_id: int) -> None:
    """Recognize one queued file. Safe to run twice for one file: the results
    are stored under the file's row lock, once per model (inference._store)."""
    try:
        await inference.infer_file(svc, file_id)
    except NotFound:
        pass  # deleted while queued
    except RecognizerUnavailable as exc:
        await _pending_because(svc, file_id, exc.message)
    except UpstreamError:
        pass  # the file is FAILED, with the reason
    except Unavailable:
        raise  # the database: the queue tries the job again later
    except AppError as exc:
        log.warning("the recognition job of file %s ended: %s", file_id, exc.message)


async def _pending_because(svc: Services, file_id: int, reason: str) -> None:
    """Keep why a queued file went back to pending, for whoever reads it."""
    async with svc.session(write=True) as session:
        row = await db_files.lock_file(session, file_id=file_id)
        if row is None or row.status is not FileStatus.PENDING:
            return
        await db_files.set_status(session, row=row, status=FileStatus.PENDING, error=reason)
        await session.commit()
    svc.events.publish(FileEventKind.PENDING, row)


@asynccontextmanager
async def running(svc: Services, *, worker: bool = False) -> AsyncIterator[None]:
    """Take jobs while the context lasts: always with the in-process queue
    (files left QUEUED by the last stop first), with the PostgreSQL queue when
    RUN_WORKER is on or this is `python worker.py`."""
    takes = svc.jobs.kind == "inprocess" or worker or svc.settings.run_worker
    if not takes:
        yield
        return

    async def handler(file_id: int) -> None:
        await run_job(svc, file_id)

    async with svc.jobs.working(handler):
        if svc.jobs.kind == "inprocess":
            async with svc.session() as session:
                left = await db_files.queued_ids(session)
            if left:
                log.info("%d file(s) queued before the last stop are queued again", len(left))
                svc.jobs.added(left)
        yield
