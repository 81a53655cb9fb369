"""JSON documents as clients send them (GraphQL requests, REST bodies).

json.loads refuses malformed text with JSONDecodeError, but two documents that
are valid JSON make it raise something else: `[[[[...` nested past the
decoder's recursion limit (RecursionError), and a number of more digits than
int() converts (4,300; a plain ValueError). Both are a client's doing, and
both used to end as a 500 wherever a route called json.loads itself.
"""

from __future__ import annotations

import json


class InvalidJSON(ValueError):
    """A document json.loads cannot take, with a message for the client. A
    ValueError, as JSONDecodeError is: code that refuses malformed JSON with
    `except ValueError` refuses these too."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def loads(data: str | bytes) -> object:
    """json.loads, raising only ValueError: JSONDecodeError for text that is not
    JSON, InvalidJSON (in words) for JSON that Python cannot hold."""
    try:
        return json.loads(data)
    except RecursionError:
        raise InvalidJSON("The request's JSON is nested too deeply.") from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        raise InvalidJSON(
            "A number in the request's JSON has more digits than any value takes."
        ) from None
