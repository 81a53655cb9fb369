"""The `operations` and `map` fields of a GraphQL multipart request (the
graphql-multipart-request-spec), checked before any file is put in place.

Strawberry's own placement follows each path blindly: a map such as
`{"0": ["variables.f.0.__class__"]}` indexes into null, a map that is a list
has no `.items()`, and an index of 5,000 digits is too long for `int()`; each
was a 500 with a traceback. Here every such shape is the client's mistake,
answered 400 with what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException

# More digits than any list in a request can need, and far fewer than the
# 4,300 that `int()` refuses.
_MAX_INDEX_DIGITS = 6


def place_files(operations: object, files_map: object, files: Mapping[str, Any]) -> Any:
    """`operations` with each file put where `map` says (`variables.files.0`),
    after checking both shapes; raises HTTPException(400) for any mistake."""
    if not isinstance(operations, (dict, list)):
        raise _bad("`operations` must be a JSON object (or a list, for a batch).")
    if not isinstance(files_map, dict):
        raise _bad('`map` must be a JSON object such as {"0": ["variables.file"]}.')
    for field, paths in files_map.items():
        if field not in files:
            raise _bad(f"`map` names the file field {field!r}, which the request does not hold.")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise _bad(f'`map[{field!r}]` must be a list of paths such as "variables.file".')
        for path in paths:
            _put(operations, path, files[field])
    return operations


def _put(operations: dict[str, Any] | list[Any], path: str, file: Any) -> None:
    *steps, last = path.split(".")
    target: Any = operations
    for step in steps:
        target = _step(target, step, path)
        if not isinstance(target, (dict, list)):
            raise _bad(f"The path {path!r} in `map` leads to no object or list in `operations`.")
    if isinstance(target, list):
        index = _index(target, last, path)
        if target[index] is not None:
            raise _bad(f"The path {path!r} in `map` must lead to a null placeholder.")
        target[index] = file
    elif target.get(last) is None:  # a placeholder, or a variable left out
        target[last] = file
    else:
        raise _bad(f"The path {path!r} in `map` must lead to a null placeholder.")


def _step(target: dict[str, Any] | list[Any], step: str, path: str) -> Any:
    if isinstance(target, list):
        return target[_index(target, step, path)]
    if step not in target:
        raise _bad(f"The path {path!r} in `map` names {step!r}, which `operations` lacks.")
    return target[step]


def _index(target: list[Any], step: str, path: str) -> int:
    if not (step.isascii() and step.isdigit() and len(step) <= _MAX_INDEX_DIGITS):
        raise _bad(f"The path {path!r} in `map` indexes a list with {step[:20]!r}.")
    index = int(step)
    if index >= len(target):
        raise _bad(f"The path {path!r} in `map` indexes past the end of a list.")
    return index


def _bad(message: str) -> HTTPException:
    return HTTPException(400, f"Malformed multipart GraphQL request: {message}")
