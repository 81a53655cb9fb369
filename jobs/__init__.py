"""Recognition jobs: one job recognizes one file.

Two queues, one interface (`JobQueue`):

- `InProcessQueue` (JOB_QUEUE=inprocess, the default): this process runs the jobs
  as asyncio tasks. The durable record is the file's status: a file left QUEUED
  by a stop is queued again at the next start-up.
- `PostgresQueue` (JOB_QUEUE=postgres): the jobs are rows in PostgreSQL, managed
  by pgqueuer. Any API replica (unless RUN_WORKER=false) and any
  `python worker.py` takes them; a worker that dies stops sending heartbeats and
  its jobs go to another worker after JOB_HEARTBEAT_SECONDS.

What a job does is not decided here: `resolvers/jobs.py` hands the queue its
handler, which must be safe to run twice for one file (a worker can die after
storing results but before the queue hears the job is done).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

# Recognize the file with this id; raise `errors.Unavailable` (not
# RecognizerUnavailable) to have the job tried again later.
Handler = Callable[[int], Awaitable[None]]


class JobQueue(Protocol):
    kind: str

    async def add(self, session: AsyncSession, file_ids: Sequence[int]) -> None:
        """Record a job per file in the caller's transaction: the jobs exist
        exactly when the transaction that marked the files QUEUED commits."""

    def added(self, file_ids: Sequence[int]) -> None:
        """Called after that commit (the in-process queue starts its tasks then)."""

    def working(self, handler: Handler) -> AbstractAsyncContextManager[None]:
        """Take jobs and run `handler` on them until the context exits."""
