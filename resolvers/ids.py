"""File ids as clients send them: the REST integer, or the GraphQL global id."""

from __future__ import annotations

import base64
import binascii

from errors import InvalidInput, NotFound

MAX_ID = 2**31 - 1  # the `id` column is a 32-bit integer on every backend


def global_id(type_name: str, database_id: int) -> str:
    return base64.b64encode(f"{type_name}:{database_id}".encode()).decode()


def parse_file_id(value: str | int) -> int:
    """Accept 7, "7" or the global id of File 7. Anything else is not a file we
    could have, so it is NotFound (REST: 404) rather than a server error."""
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            text = _decode_global(text) or ""
        if not text.isdigit():
            raise NotFound(f"No file with id {value!r}: ids are positive integers.")
        number = int(text)
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"No file with id {value!r}.")
    return number


def _decode_global(text: str) -> str | None:
    try:
        decoded = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, number = decoded.partition(":")
    return number if kind == "File" and number.isascii() else None


def encode_cursor(database_id: int) -> str:
    return base64.b64encode(f"cursor:{database_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, number = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        kind, number = "", ""
    if kind != "cursor" or not number.isascii() or not number.isdigit() or int(number) > MAX_ID:
        raise InvalidInput(f"{cursor!r} is not a cursor this API gave out.")
    return int(number)
