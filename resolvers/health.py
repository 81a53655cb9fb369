"""Whether the server can do its work: the database and the image folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import anyio

from db.engine import ping
from errors import Unavailable
from recognition.base import RecognizerStatus
from services import Services

# "name" or "namespace/name", as the Hub spells repository ids; anything else
# (an absolute or relative folder) is a path on this machine.
_HUB_ID = re.compile(r"^[A-Za-z0-9_-][\w.-]*(/[A-Za-z0-9_-][\w.-]*)?$")


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
                await ping(session)
        database = Check(True, svc.engine.dialect.name)
    except (Unavailable, TimeoutError) as exc:
        database = Check(False, str(exc) or "the database did not answer within 5 s")
    ok, detail = await anyio.to_thread.run_sync(svc.blobs.usable)
    if ok:
        ok, detail = await svc.objects.usable()
    report = Health(
        database=database,
        storage=Check(ok, detail),
        recognizer=svc.recognizer.status(),
        backend=svc.recognizer.backend,
        model_id=svc.recognizer.model_id,
    )
    return _for_anyone(report) if svc.settings.production else report


def _for_anyone(report: Health) -> Health:
    """/health answers without a key, so in production it says what works and
    not how: no model folder, no driver or file system messages (the server log
    has them). A Hub id is public knowledge and stays."""
    recognizer = report.recognizer
    if recognizer.ready:
        said = "loaded"
    elif recognizer.available:
        said = "loads on first use"
    else:
        said = "cannot be loaded; the server log says why"
    local = not _HUB_ID.match(report.model_id) or Path(report.model_id).exists()
    return Health(
        database=Check(report.database.ok, "ok" if report.database.ok else "unavailable"),
        storage=Check(report.storage.ok, "ok" if report.storage.ok else "unavailable"),
        recognizer=RecognizerStatus(recognizer.ready, recognizer.available, said),
        backend=report.backend,
        model_id="a local model" if local else report.model_id,
    )
