"""The OpenAPI description of GET and POST /catalog (merged into rest/openapi.py)."""

from __future__ import annotations

from rest.openapi import Json, _error, _json, _list, _object, _operation, _query, _ref, _t


def catalog_schemas() -> Json:
    return {
        "CatalogEntry": _object(
            {
                "id": _t("integer"),
                "label": _t(
                    "string", "Built from the fields.", examples=["Tesla Model Y SUV 2020+"]
                ),
                "make": _t("string"),
                "model": _t("string", null=True),
                "body_type": _t("string", null=True),
                "year_from": _t("integer", null=True),
                "year_to": _t("integer", "Null with year_from set: still made.", null=True),
                "enabled": _t("boolean", "Switched-off entries are never predicted."),
                "updated_at": _t("string", format="date-time"),
            }
        ),
        "NewCatalogEntry": {
            "type": "object",
            "description": "Each entry is checked on its own: an empty make or model, a year"
            " outside 1886-2100, text over its length (make 64, model 128, body_type 64; the"
            " label 300 in lower case) or holding NUL or a lone surrogate, or a duplicate"
            " (one added by another client at the same moment included) comes back in"
            " `errors` with the entry's index, and the other entries are still added.",
            "required": ["make"],
            "properties": {
                "make": _t("string"),
                "model": _t("string", null=True),
                "body_type": _t("string", null=True),
                "year_from": _t("integer", null=True),
                "year_to": _t("integer", null=True),
                "enabled": _t("boolean", default=True),
            },
        },
    }


def catalog_paths() -> Json:
    return {
        "/catalog": {
            "get": _operation(
                "listCatalog",
                "The car names the zero-shot recognizer chooses from",
                "catalog",
                {
                    "200": _json(
                        "A page of entries, in the order they were added.",
                        _object(
                            {
                                "entries": _list(_ref("CatalogEntry")),
                                "total": _t("integer", "Entries matching the filters."),
                                "next": _t("string", "`after` for the next page.", null=True),
                            }
                        ),
                    ),
                    "400": _error(
                        "A bad `limit` or `after`; a `search` over 300 characters or a `make`"
                        " over 64, or either holding NUL."
                    ),
                },
                parameters=(
                    _query("search", "Part of the label, any case.", _t("string")),
                    _query("make", "Only this make, any case.", _t("string")),
                    _query(
                        "limit",
                        "Entries per page, at most 100.",
                        _t("integer", minimum=0, maximum=100),
                    ),
                    _query("after", "The `next` of the previous page.", _t("string")),
                ),
            ),
            "post": _operation(
                "addToCatalog",
                "Add car names to the catalog",
                "catalog",
                {
                    "200": _json(
                        "The entries added; each refused one is listed with its index.",
                        _object(
                            {
                                "added": _list(_ref("CatalogEntry")),
                                "errors": _list(
                                    _object(
                                        {
                                            "index": _t("integer"),
                                            "code": _t(
                                                "string",
                                                enum=["DUPLICATE", "EMPTY_NAME", "INVALID_INPUT"],
                                            ),
                                            "detail": _t("string"),
                                        }
                                    )
                                ),
                            }
                        ),
                    ),
                    "400": _error(
                        "Not a non-empty list of entries (JSON nested too deeply, or with a"
                        " number of thousands of digits, included), or more than MAX_BATCH_IDS."
                    ),
                    "413": _error("The body is over its size limit."),
                },
                description="Every replica's recognizer sees the new names before its next batch.",
                body={"application/json": {"schema": _list(_ref("NewCatalogEntry"), minItems=1)}},
            ),
        }
    }
