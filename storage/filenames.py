"""Client file names, made safe to show. They are never used as paths."""

from __future__ import annotations

import os
import re
import unicodedata

_SPACES = re.compile(r"\s+")


def clean_filename(raw: str | None, *, max_length: int) -> str:
    """The client's file name for display: no directories, no control or format
    characters (NUL, right-to-left overrides), single spaces, bounded length with
    the extension kept."""
    if not raw:
        return ""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    # Category C covers control (Cc), format (Cf: bidi overrides, zero-width
    # joiners), surrogates, private use and unassigned code points.
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _SPACES.sub(" ", name).strip()
    if name in {".", ".."}:
        return ""
    if len(name) > max_length:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = stem[: max_length - len(ext)].rstrip() + ext
    return name


def extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()
