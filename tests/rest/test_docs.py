"""The API docs: GraphiQL at /graphql, Swagger UI at /docs, ReDoc at /redoc, all
served from /static with nothing from another host, and /openapi.json, which must
describe every REST route the app serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from tests import images
from tests.helpers import gql, record_predictions, upload_jpeg

STATIC = Path(__file__).parents[2] / "static"
PAGES = ["/graphql", "/docs", "/redoc"]
HTML = {"Accept": "text/html"}  # what a browser sends; GraphiQL is only for it

# The most each directive may allow; any other directive may only say 'self' or 'none'.
CSP_LIMITS = {
    "img-src": {"'self'", "data:", "blob:"},
    "style-src": {"'self'", "'unsafe-inline'"},
    "worker-src": {"'self'", "blob:"},
    "font-src": {"'self'", "data:"},
}
# Served by the app, and not REST routes.
UNDOCUMENTED = ("/graphql", "/static", "/docs", "/redoc", "/openapi.json")
OTHER_HOST = re.compile(r"https?://|[\"'(]//")


class Assets(HTMLParser):
    """The URLs a page loads, and whether it has any inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if any(name.startswith("on") for name in found):
            self.inline_script = True
        url = found.get("src") if tag == "script" else found.get("href")
        if url and not url.startswith("data:"):
            self.urls.append(url)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True


def assets(html: str) -> Assets:
    parser = Assets()
    parser.feed(html)
    return parser


def csp(header: str) -> dict[str, set[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: set(sources) for name, *sources in directives}


@pytest.mark.parametrize("url", PAGES)
def test_page_loads_only_its_own_assets_under_a_strict_csp(client: TestClient, url: str) -> None:
    response = client.get(url, headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = csp(response.headers["content-security-policy"])
    assert policy["default-src"] == {"'self'"}
    assert policy["connect-src"] == {"'self'"}
    assert "script-src" not in policy  # so scripts fall back to 'self': no inline, no eval
    for directive, sources in policy.items():
        assert sources <= CSP_LIMITS.get(directive, {"'self'", "'none'"}), directive
    assert not OTHER_HOST.search(response.text)
    page = assets(response.text)
    assert not page.inline_script
    assert page.urls
    for asset in page.urls:
        assert asset.startswith("/static/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        kind = served.headers["content-type"]
        if asset.endswith(".js"):
            assert kind.split(";")[0] in ("text/javascript", "application/javascript"), asset
        else:
            assert asset.endswith(".css")
            assert kind.startswith("text/css"), asset


def test_the_pages_own_scripts_and_styles_name_no_other_host() -> None:
    own = sorted((STATIC / "docs").iterdir())
    assert {p.suffix for p in own} == {".js", ".css"}
    for path in own:
        assert not OTHER_HOST.search(path.read_text()), path.name


def test_swagger_ui_never_asks_the_online_validator() -> None:
    assert "validatorUrl: null" in (STATIC / "docs" / "swagger.js").read_text()


def test_versioned_assets_are_cached_for_a_year_and_the_pages_scripts_revalidated(
    client: TestClient,
) -> None:
    vendored = assets(client.get("/docs").text).urls[0]
    assert vendored.startswith("/static/vendor/swagger-ui-dist-5.")
    cache = client.get(vendored).headers["cache-control"]
    assert "max-age=31536000" in cache
    assert "immutable" in cache
    assert client.get("/static/docs/swagger.js").headers["cache-control"] == "no-cache"
    missing = client.get("/static/vendor/nothing.js")
    assert missing.status_code == 404
    assert missing.json()["detail"]


def test_every_vendored_package_records_its_version_integrity_and_licence() -> None:
    rows = [
        line.split()
        for line in (STATIC / "vendor" / "VERSIONS.txt").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert {name for name, _, _ in rows} == {
        "react",
        "react-dom",
        "graphiql",
        "swagger-ui-dist",
        "redoc",
    }
    for name, version, integrity in rows:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), name
        assert integrity.startswith("sha512-"), name
        assert (STATIC / "vendor" / f"{name}-{version}" / "LICENSE").is_file(), name


def example_query() -> str:
    script = (STATIC / "docs" / "graphiql.js").read_text()
    match = re.search(r"const EXAMPLE_QUERY = `([^`]*)`", script)
    assert match
    return match.group(1)


def test_graphiql_opens_on_an_example_query_that_works(client: TestClient) -> None:
    query = example_query()
    assert query.startswith("# Uploaded photos, newest first, with what the recognizer saw.")
    assert "defaultQuery: EXAMPLE_QUERY" in (STATIC / "docs" / "graphiql.js").read_text()
    meta = upload_jpeg(client, "m3.jpg")
    record_predictions(client, meta["id"], [("BMW M3 Coupe 2012", 0.97)])
    result = gql(client, query)
    assert "errors" not in result, result
    files = result["data"]["files"]
    assert files["totalCount"] == 1
    node = files["edges"][0]["node"]
    assert node["databaseId"] == meta["id"]
    assert node["predictions"][0]["make"] == "BMW"


def test_graphql_still_answers_clients_that_do_not_ask_for_html(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_openapi_json_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    validate(spec)


def served_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every HTTP route, inside mounts too."""
    for route in routes:
        if isinstance(route, Mount):
            yield from served_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":  # Starlette adds it beside every GET
                    yield method, prefix + route.path


def test_every_rest_route_is_documented(client: TestClient, spec: dict[str, Any]) -> None:
    # Each route spelled once in the spec; its twin with(out) a trailing slash is the same route.
    documented = {path.rstrip("/"): item for path, item in spec["paths"].items()}
    checked = 0
    for method, path in served_routes(client.app.routes):  # type: ignore[attr-defined]
        if path == "/" or path.startswith(UNDOCUMENTED):  # pages, not REST routes
            continue
        item = documented.get(path.rstrip("/"))
        assert item is not None, f"{path} is served but not in /openapi.json"
        assert method.lower() in item, f"{method} {path} is served but not in /openapi.json"
        checked += 1
    assert checked >= 14  # the walk did find the routes


def check(spec: dict[str, Any], schema: str, body: Any) -> None:
    """Validate a real response body against a schema of the spec."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}
    OAS31Validator(root).validate(body)


def test_the_documented_shapes_are_what_the_routes_answer(
    client: TestClient, spec: dict[str, Any]
) -> None:
    uploaded = client.post("/upload/", files={"file": ("a.jpg", images.jpeg(), "image/jpeg")})
    check(spec, "UploadResponse", uploaded.json())
    meta = upload_jpeg(client, "m3.jpg", color=(1, 2, 3))
    record_predictions(client, meta["id"], [("BMW M3 Coupe 2012", 0.9), ("Other thing", 0.1)])
    for body in client.get("/files/").json():
        check(spec, "ImageMetadata", body)
    batch = client.post(
        "/upload/batch",
        files=[
            ("files", ("b.jpg", images.jpeg(color=(9, 9, 9)), "image/jpeg")),
            ("files", ("x.jpg", b"not an image", "image/jpeg")),
        ],
    )
    check(spec, "BatchUploadResponse", batch.json())
    assert batch.json()["rejected"]
    refused = client.post("/upload/batch", files=[("files", ("x.jpg", b"nope", "image/jpeg"))])
    assert refused.status_code == 400
    check(spec, "Error", refused.json())
    check(spec, "StatsResponse", client.get("/visualization/stats").json())
    failed = client.post("/inference/batch", json=[999]).json()
    check(spec, "InferenceFailure", failed[0])
    check(spec, "DeleteAllResponse", client.delete("/files/").json())
    check(spec, "Health", client.get("/health").json())
