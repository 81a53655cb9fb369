"""`python worker.py`: a recognition worker for JOB_QUEUE=postgres.

It reads the same settings as the server (environment and `.env`), opens the
same database, storage and recognizer, and takes recognition jobs from the
queue in PostgreSQL until SIGTERM or SIGINT, when it finishes the jobs it holds
and stops. A worker killed outright loses nothing: its jobs go to another
worker once its heartbeat stops (JOB_HEARTBEAT_SECONDS). Run as many as the
machines allow; API replicas with RUN_WORKER=false then only serve requests.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from config import Settings
from resolvers.jobs import running
from server import configure_logging
from services import open_services

log = logging.getLogger("cars.worker")


async def serve(settings: Settings) -> None:
    configure_logging(settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sign in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sign, stop.set)
    async with open_services(settings) as services, running(services, worker=True):
        log.info("worker ready: taking recognition jobs (model %s)", services.recognizer.model_id)
        await stop.wait()
        log.info("worker stopping: finishing the jobs it holds")


def main() -> None:
    settings = Settings()
    if settings.job_queue != "postgres":
        print(
            "worker.py takes jobs from a shared queue: set JOB_QUEUE=postgres and a PostgreSQL"
            " DATABASE_URL (with the default JOB_QUEUE=inprocess the server runs its own jobs)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
