"""Ids and cursors as clients send them: the REST integer, or the GraphQL
global id (of a File, a CatalogEntry)."""

from __future__ import annotations

import base64
import binascii

from errors import InvalidInput, NotFound

MAX_ID = 2**31 - 1  # the `id` column is a 32-bit integer on every backend
# Digits in MAX_ID. Longer digit strings are never converted: Python refuses to
# turn more than 4,300 digits into an int, and none of them could be an id.
_MAX_DIGITS = len(str(MAX_ID))


def global_id(type_name: str, database_id: int) -> str:
    return base64.b64encode(f"{type_name}:{database_id}".encode()).decode()


def parse_file_id(value: str | int) -> int:
    """Accept 7, "7" or the global id of File 7. Anything else is not a file we
    could have, so it is NotFound (REST: 404) rather than a server error."""
    return parse_id(value, kind="File", noun="file")


def parse_id(value: str | int, *, kind: str, noun: str) -> int:
    """The database id in 7, "7" or the global id of `kind` 7 (base64 of
    "File:7"); NotFound, naming the `noun`, for anything that could not be one:
    other digits than ASCII ones, thousands of digits, another kind's id."""
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            text = _decode_global(text, kind) or ""
        if not text.isdigit():
            raise NotFound(f"No {noun} with id {_shown(value)}: ids are positive integers.")
        found = small_number(text)
        if found is None:
            raise NotFound(f"No {noun} with id {_shown(value)}.")
        number = found
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"No {noun} with id {_shown(value)}.")
    return number


def small_number(digits: str) -> int | None:
    """The value of a string of ASCII digits, or None for any other text ("²"
    and "٣" are digits to str.isdigit(), not to int()) and for more digits
    than any id has (leading zeros aside), which is never converted: use it
    rather than int() on a client's digits."""
    if not digits.isascii() or not digits.isdigit():
        return None
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _MAX_DIGITS else None


def _shown(value: str | int) -> str:
    """The value as an error message quotes it, cut short: it came from a client
    and may be a megabyte long."""
    if isinstance(value, int) and value.bit_length() > 128:
        return "(a number too large to be an id)"  # str() itself refuses 4,300+ digits
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _decode_global(text: str, kind: str) -> str | None:
    try:
        decoded = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    found, _, number = decoded.partition(":")
    return number if found == kind and number.isascii() else None


def encode_cursor(database_id: int) -> str:
    return base64.b64encode(f"cursor:{database_id}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, number = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        kind, number = "", ""
    found = small_number(number)
    if kind != "cursor" or found is None or found > MAX_ID:
        raise InvalidInput(f"{_shown(cursor)} is not a cursor this API gave out.")
    return found
