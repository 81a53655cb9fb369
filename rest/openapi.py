"""The OpenAPI 3.1 description of the REST routes, served at /openapi.json for
Swagger UI (/docs) and ReDoc (/redoc).

The routes are plain Starlette handlers with nothing to derive a schema from, so
it is written here by hand, from docs/rest-compat.md and what rest/shapes.py returns.
tests/rest/test_docs.py fails when the app serves a route that is missing here.
A route served with and without a trailing slash is described once, spelled as
docs/rest-compat.md spells it.
"""

from __future__ import annotations

from typing import Any

from db.models import FileStatus

Json = dict[str, Any]


def _ref(name: str, kind: str = "schemas") -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _t(type_: str, description: str = "", *, null: bool = False, **extra: Any) -> Json:
    """A schema of one JSON type; `null=True` allows null too (3.1 has no `nullable`)."""
    schema: Json = {"type": [type_, "null"] if null else type_, **extra}
    if description:
        schema["description"] = description
    return schema


def _or_null(schema: Json) -> Json:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: Json, **extra: Any) -> Json:
    """An object with all these properties. Others may come too: docs/rest-compat.md
    welcomes new fields."""
    return {"type": "object", "properties": properties, "required": list(properties), **extra}


def _list(items: Json, **extra: Any) -> Json:
    return {"type": "array", "items": items, **extra}


def _json(description: str, schema: Json) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Json:
    return _json(description, _ref("Error"))


def _content(description: str, schema: Json, *media_types: str) -> Json:
    return {"description": description, "content": {t: {"schema": schema} for t in media_types}}


def _query(name: str, description: str, schema: Json) -> Json:
    return {"name": name, "in": "query", "description": description, "schema": schema}


_RECOGNIZE = _query(
    "recognize",
    "`true`: queue the stored photos for recognition at once (they come back `queued`). "
    "Absent: the server's AUTO_RECOGNIZE setting decides.",
    {"type": "boolean"},
)


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: Json,
    *,
    description: str = "",
    parameters: tuple[Json, ...] = (),
    body: Json | None = None,
    public: bool = False,
) -> Json:
    operation: Json = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if public:
        operation["security"] = [{}]
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = list(parameters)
    if body:
        operation["requestBody"] = {"required": True, "content": body}
    # Every route reads the database, so any of them can find it down.
    operation["responses"] = {**responses}
    operation["responses"].setdefault("503", _ref("Unavailable", "responses"))
    if not public:  # with API_KEYS set
        operation["responses"].setdefault("401", _ref("Unauthorized", "responses"))
        operation["responses"].setdefault("403", _ref("Forbidden", "responses"))
    return operation


_IMAGE_ID = _ref("ImageId", "parameters")
_NOT_FOUND = _ref("NotFound", "responses")
_STATUS = _ref("FileStatus")
_PREDICTIONS = _list(_ref("Prediction"))


def _schemas() -> Json:
    return {
        "Error": _object({"detail": _t("string", "What went wrong, for a person to read.")}),
        "Message": _object({"message": _t("string")}),
        "FileStatus": _t("string", "`done` once recognized.", enum=[s.value for s in FileStatus]),
        "Prediction": _object(
            {
                "label": _t("string", examples=["BMW M3 Coupe 2012"]),
                "confidence": _t("number", "Rounded to 4 places.", minimum=0, maximum=1),
                "make": _t("string", "Read from the label; null when it cannot be.", null=True),
                "model": _t("string", null=True),
                "body_type": _t("string", null=True),
                "year": _t("integer", null=True),
            },
            description="One guess of the recognizer. Lists of them are best first.",
        ),
        "ImageMetadata": _object(
            {
                "id": _t("integer", "The file id (`databaseId` in GraphQL)."),
                "filename": _t("string", "The client's file name, cleaned for display."),
                "path": _t("string", "URL path of the image.", examples=["/files/7/image"]),
                "upload_date": _t("string", format="date-time"),
                "processed": _t("boolean", "True once recognition succeeded."),
                "results": {**_or_null(_PREDICTIONS), "description": "Null until processed."},
                "mime_type": _t("string", "Detected from the content."),
                "size_bytes": _t("integer"),
                "status": _STATUS,
                "error": _t("string", "Why recognition failed, when it did.", null=True),
                "width": _t("integer"),
                "height": _t("integer"),
                "sha256": _t("string"),
                "thumbnail_url": _t("string", examples=["/files/7/thumbnail"]),
                "processed_at": _t("string", format="date-time", null=True),
                "model_id": _t("string", "The model that made the predictions.", null=True),
                "backend": _t("string", "`local`, `huggingface` or `zero-shot`.", null=True),
                "inference_ms": _t("number", null=True),
            }
        ),
        "UploadResponse": _object({"message": _t("string"), "files": _list(_ref("ImageMetadata"))}),
        "BatchUploadResponse": _object(
            {
                "message": _t("string", "Names each refused file, and why."),
                "files": _list(_ref("ImageMetadata"), description="The files that were stored."),
                "rejected": _list(
                    _object(
                        {"filename": _t("string"), "status": _t("integer"), "detail": _t("string")}
                    ),
                    description="The refused files, with the status each alone would get.",
                ),
            }
        ),
        "InferenceResponse": _object(
            {
                "id": _t("integer"),
                "filename": _t("string"),
                "predictions": _PREDICTIONS,
                "status": _STATUS,
                "model_id": _t("string", null=True),
                "backend": _t("string", null=True),
                "inference_ms": _t("number", null=True),
            }
        ),
        "InferenceFailure": _object(
            {
                "id": _t("integer"),
                "filename": _t("string", "Null for an unknown id.", null=True),
                "predictions": _list({}, maxItems=0),
                "error": _t("string"),
                "status": _or_null(_STATUS),
            },
            description="An id in a batch that could not be recognized.",
        ),
        "DeleteAllResponse": _object({"message": _t("string"), "deleted": _t("integer")}),
        "Check": _object({"ok": _t("boolean"), "detail": _t("string")}),
        "Health": _object(
            {
                "status": _t("string", enum=["ok", "degraded", "unavailable"]),
                "database": _ref("Check"),
                "storage": _ref("Check"),
                "recognizer": _object(
                    {
                        "ok": _t("boolean", "False: recognition fails until configured."),
                        "ready": _t("boolean", "Whether the model is loaded."),
                        "backend": _t("string"),
                        "model": _t("string"),
                        "detail": _t("string"),
                    }
                ),
            }
        ),
        "StatsResponse": _object(
            {
                "total_files": _t("integer"),
                "processed_files": _t("integer"),
                "unprocessed_files": _t("integer"),
                "top_brands": _list(
                    _object({"label": _t("string"), "count": _t("integer")}),
                    maxItems=10,
                    description="The top-1 label of processed files, most frequent first.",
                ),
                "by_status": _object(
                    {
                        status: _t("integer")
                        for status in ("pending", "queued", "processing", "done", "failed")
                    }
                ),
                "top_makes": _list(
                    _object({"make": _t("string"), "count": _t("integer")}),
                    maxItems=10,
                    description="Makes of the top-1 predictions, most frequent first.",
                ),
                "top_models": _list(
                    _object({"make": _t("string"), "model": _t("string"), "count": _t("integer")}),
                    maxItems=10,
                    description="Make and model of the top-1 predictions, most frequent first.",
                ),
                "confidence_histogram": _list(
                    _object({"low": _t("number"), "high": _t("number"), "count": _t("integer")}),
                    description="Top-1 confidence of processed files in ten buckets [low, high).",
                ),
                "low_confidence": _object(
                    {"threshold": _t("number"), "count": _t("integer")},
                    description="Processed files whose top-1 confidence is below the threshold.",
                ),
                "failures": _list(
                    _object({"reason": _t("string"), "count": _t("integer")}),
                    description="Why files failed, most common first.",
                ),
                "mean_inference_ms": _t(
                    "number", "Mean recognition time of processed files.", null=True
                ),
            },
        ),
    }


def _paths() -> Json:
    photo = _t("string", "A JPEG or PNG photo.", format="binary", minLength=1)
    # In a batch an empty or broken file is refused on its own (see `rejected`),
    # not the request: any bytes are valid there.
    any_photo = _t("string", "A JPEG or PNG photo.", format="binary")
    refused = {
        "400": _error(
            "No file, an empty file, not an image, corrupt, truncated, a polyglot, or more"
            " elongated than MAX_ASPECT_RATIO (20:1 by default)."
        ),
        "413": _error("Over the size limit."),
        "415": _error("A type or file name extension that is not accepted."),
    }
    image = _t("string", format="binary")
    return {
        "/upload/": {
            "post": _operation(
                "upload",
                "Upload one photo",
                "uploads",
                {"200": _json("The stored file.", _ref("UploadResponse")), **refused},
                parameters=(_RECOGNIZE,),
                body={"multipart/form-data": {"schema": _object({"file": photo})}},
            )
        },
        "/upload/batch": {
            "post": _operation(
                "uploadBatch",
                "Upload several photos",
                "uploads",
                {
                    "200": _json("The files that were accepted.", _ref("BatchUploadResponse")),
                    "400": _error("No file was accepted; the detail says why each was refused."),
                    "413": _error("The request is over its size limit, or has too many files."),
                },
                description="Files that pass the checks are stored; the others are listed in "
                "`rejected` and named in `message`.",
                parameters=(_RECOGNIZE,),
                body={
                    "multipart/form-data": {
                        "schema": _object({"files": _list(any_photo, minItems=1)})
                    }
                },
            )
        },
        "/inference/{image_id}": {
            "post": _operation(
                "infer",
                "Recognize the car in a file",
                "inference",
                {
                    "200": _json("The predictions, best first.", _ref("InferenceResponse")),
                    "202": _json(
                        "With JOB_QUEUE=postgres, the job took longer than JOB_WAIT_SECONDS: "
                        "`status` is `queued` or `processing`, no predictions yet, and `detail` "
                        "says so. The job goes on.",
                        _ref("InferenceResponse"),
                    ),
                    "404": _NOT_FOUND,
                    "502": _error("The remote recognizer failed; the file is now `failed`."),
                },
                description="Answers at once when this model has already recognized the "
                "file, or the same bytes.",
                parameters=(_IMAGE_ID,),
            )
        },
        "/inference/batch": {
            "post": _operation(
                "inferBatch",
                "Recognize several files",
                "inference",
                {
                    "200": _json(
                        "One answer per id, in request order.",
                        _list({"anyOf": [_ref("InferenceResponse"), _ref("InferenceFailure")]}),
                    ),
                    "400": _error("Not a non-empty list of integers, or more ids than allowed."),
                    "413": _error("The body is over its size limit."),
                },
                body={
                    "application/json": {
                        "schema": _list(_t("integer"), minItems=1),
                        "example": [1, 2, 3],
                    }
                },
            )
        },
        "/files/": {
            "get": _operation(
                "listFiles",
                "List every file, oldest first",
                "files",
                {"200": _json("Every file.", _list(_ref("ImageMetadata")))},
            ),
            "delete": _operation(
                "deleteAllFiles",
                "Delete every file and its image",
                "files",
                {"200": _json("How many were deleted.", _ref("DeleteAllResponse"))},
            ),
        },
        "/files/{image_id}": {
            "get": _operation(
                "getFile",
                "One file",
                "files",
                {"200": _json("The file.", _ref("ImageMetadata")), "404": _NOT_FOUND},
                parameters=(_IMAGE_ID,),
            ),
            "delete": _operation(
                "deleteFile",
                "Delete a file and its image",
                "files",
                {"200": _json("Deleted.", _ref("Message")), "404": _NOT_FOUND},
                parameters=(_IMAGE_ID,),
            ),
        },
        "/files/{image_id}/reprocess": {
            "post": _operation(
                "reprocessFile",
                "Clear a file's results, to recognize it anew",
                "files",
                {"200": _json("The file, `pending`.", _ref("ImageMetadata")), "404": _NOT_FOUND},
                parameters=(_IMAGE_ID,),
            )
        },
        "/files/{image_id}/image": {
            "get": _operation(
                "getImage",
                "The photo itself, with its detected type",
                "files",
                {
                    "200": _content("The image.", image, "image/jpeg", "image/png"),
                    "404": _NOT_FOUND,
                },
                parameters=(_IMAGE_ID,),
            )
        },
        "/files/{image_id}/thumbnail": {
            "get": _operation(
                "getThumbnail",
                "A small JPEG of the photo, upright",
                "files",
                {"200": _content("The thumbnail.", image, "image/jpeg"), "404": _NOT_FOUND},
                parameters=(_IMAGE_ID,),
            )
        },
        "/visualization/stats": {
            "get": _operation(
                "stats",
                "How many files, and the most frequent labels",
                "visualization",
                {"200": _json("The statistics.", _ref("StatsResponse"))},
            )
        },
        "/visualization/export/csv": {
            "get": _operation(
                "exportCsv",
                "The results of the processed files, as CSV",
                "visualization",
                {
                    "200": {
                        **_content("The attachment `results.csv`.", _t("string"), "text/csv"),
                        "headers": {"Content-Disposition": {"schema": _t("string")}},
                    },
                    "400": _error("An unknown status."),
                    "404": _error("Nothing has been processed yet."),
                },
                description="The header row starts `filename,top_prediction,confidence,"
                "all_predictions`; more columns may follow.",
                parameters=(
                    _query(
                        "status",
                        "`done` (the default), `pending`, `queued`, `processing`, `failed`, or"
                        " `all`.",
                        _t(
                            "string",
                            enum=["done", "pending", "queued", "processing", "failed", "all"],
                        ),
                    ),
                    _query("make", "Only files whose top prediction is this make.", _t("string")),
                ),
            )
        },
        "/visualization/report": {
            "get": _operation(
                "report",
                "The results as an HTML page",
                "visualization",
                {
                    "200": _content("The report.", _t("string"), "text/html"),
                    "400": _error("`page` is not a whole number from 1 to 999,999,999."),
                },
                parameters=(
                    _query("page", "Page number.", _t("integer", minimum=1, maximum=999_999_999)),
                ),
            )
        },
        "/health": {
            "get": _operation(
                "health",
                "Whether the server can do its work",
                "health",
                {
                    "200": _json("Serving: `ok`, or `degraded` with the reason.", _ref("Health")),
                    "503": _json(
                        "The database or the image folder cannot be used.", _ref("Health")
                    ),
                },
                description="`degraded` when the recognizer cannot be used: uploads and "
                "browsing still work.",
                public=True,
            )
        },
    }


def spec() -> Json:
    from rest.openapi_catalog import catalog_paths, catalog_schemas

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cars Recognizer",
            "version": "0.1.0",
            "description": "Upload photos of cars and recognize their make, model and year. "
            "These are the REST routes of the original service; GraphQL, with the same "
            'operations and more, is at [/graphql](/graphql). Errors are `{"detail": "..."}`.',
        },
        "tags": [
            {"name": "uploads", "description": "Photos, checked before they are stored."},
            {"name": "inference", "description": "Recognizing make, model and year."},
            {"name": "files", "description": "Uploaded files, their images and thumbnails."},
            {"name": "visualization", "description": "Statistics, CSV export, a report."},
            {"name": "health", "description": "For load balancers and people."},
            {"name": "catalog", "description": "The names the zero-shot recognizer knows."},
        ],
        "paths": {**_paths(), **catalog_paths()},
        # Keys are needed only when the server has API_KEYS; `{}` says so.
        "security": [{}, {"bearer": []}, {"apiKey": []}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A key from API_KEYS (or READ_API_KEYS, to read only).",
                },
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {**_schemas(), **catalog_schemas()},
            "parameters": {
                "ImageId": {
                    "name": "image_id",
                    "in": "path",
                    "required": True,
                    "description": "The file id (`databaseId` in GraphQL); anything that is not "
                    "a known id gives 404.",
                    "schema": _t("integer", minimum=1),
                }
            },
            "responses": {
                "Unauthorized": _error("The server has API keys and none, or a wrong one, came."),
                "Forbidden": _error(
                    "A read-only key tried to change something; or the server has no keys and"
                    " was reached on a non-loopback address without ALLOW_OPEN."
                ),
                "NotFound": _error("No file with that id, or its image is missing."),
                "Unavailable": _error(
                    "The database, the image folder or the recognizer cannot be used; the "
                    "detail says how to fix it. Sent with `Retry-After`."
                ),
            },
        },
    }
