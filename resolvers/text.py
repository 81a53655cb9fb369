"""Text a client sends, checked before it reaches a query or a row, so that
SQLite and PostgreSQL take or refuse the same strings, in the same words,
and neither database ever sees one it cannot hold."""

from __future__ import annotations

import re

from errors import InvalidInput

# U+D800-U+DFFF: JSON's "\ud800" decodes to one of these on its own, which is
# no character: UTF-8 has no bytes for it, so neither database driver can send it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(name: str, value: str | None, *, longest: int | None = None) -> None:
    """InvalidInput, naming the argument `name`, for NUL (PostgreSQL text cannot
    hold it, and refuses a query that carries one; SQLite would store it), a lone
    surrogate, or more than `longest` characters."""
    if value is None:
        return
    if longest is not None and len(value) > longest:
        raise InvalidInput(f"`{name}` is at most {longest:,} characters long; got {len(value):,}.")
    if "\x00" in value:
        raise InvalidInput(f"`{name}` cannot contain NUL characters.")
    if not value.isascii() and _SURROGATE.search(value):
        raise InvalidInput(
            f"`{name}` holds a lone surrogate (such as \\ud800), which is not a character."
        )
