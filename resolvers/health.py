"""Whether the server can do its work: the database and the image folder."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from sqlalchemy import text

from errors import Unavailable
from recognition.base import RecognizerStatus
from services import Services


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


@dataclass(frozen=True)
class Health:
    database: Check
    storage: Check
    recognizer: RecognizerStatus
    backend: str
    model_id: str

    @property
    def ok(self) -> bool:
        """Whether the server can store and serve files. A recognizer that cannot
        load leaves it degraded, not down: uploads and browsing still work."""
        return self.database.ok and self.storage.ok


async def health(svc: Services) -> Health:
    try:
        with anyio.fail_after(5):
            async with svc.session() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        database = Check(True, svc.engine.dialect.name)
    except (Unavailable, TimeoutError) as exc:
        database = Check(False, str(exc) or "the database did not answer within 5 s")
    ok, detail = await anyio.to_thread.run_sync(svc.blobs.usable)
    if ok:
        ok, detail = await svc.objects.usable()
    return Health(
        database=database,
        storage=Check(ok, detail),
        recognizer=svc.recognizer.status(),
        backend=svc.recognizer.backend,
        model_id=svc.recognizer.model_id,
    )
