"""The async engine and session factory, for SQLite (default) or PostgreSQL."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from errors import Unavailable

log = logging.getLogger("cars")

SessionFactory = async_sessionmaker[AsyncSession]

# How long a SQLite writer waits for another one before giving up. WAL lets
# readers go on during a write, but writers still take turns.
DEFAULT_BUSY_TIMEOUT = 5.0  # seconds
# How much of a SQLite file is read through a memory map (address space, not memory).
MMAP_SIZE = 1 << 30


def create_engine(
    url: str, *, pool_size: int = 5, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
        event.listen(
            engine.sync_engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout)
        )
        return engine
    return create_async_engine(url, pool_size=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(busy_timeout: float, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit that answered 2xx survives a power cut, like the image
        # bytes, which are fsynced before their row is written.
        cursor.execute("PRAGMA synchronous=FULL")
        # Read the file through a memory map: the listing's kept pages are
        # megabytes, read whole, and twice as fast so than copied page by page
        # through each connection's 2 MB cache.
        cursor.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
    finally:
        cursor.close()


def asyncpg_dsn(url: str) -> str:
    """The plain PostgreSQL URL of a SQLAlchemy one, for asyncpg.connect
    (the job queue's and the event relay's own connections)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under a session, inside its transaction: what
    the job queue writes through commits or rolls back with the session."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: rows are read after the session closes (to build
    # responses), and must not try to reload themselves then.
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def ping(session: AsyncSession) -> None:
    """One round trip to the database (for /health)."""
    await session.exec(text("SELECT 1"))  # type: ignore[call-overload]


@asynccontextmanager
async def outage_as_unavailable() -> AsyncIterator[None]:
    """A lost or locked database as `Unavailable` (503, `UNAVAILABLE`) rather
    than an unexplained 500: the client may try again, and it is no bug. Only
    the driver's own failures are translated; a constraint error stays one."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError) as exc:
        log.warning("database unavailable: %s", exc)
        raise Unavailable("The database is unavailable right now; try again shortly.") from exc
    except sa_exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("database connection lost: %s", exc)
        raise Unavailable("The database connection was lost; try again shortly.") from exc
