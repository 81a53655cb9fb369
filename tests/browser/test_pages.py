"""The report, GraphiQL, Swagger UI and ReDoc, as a browser sees them."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import UPLOADS, Site, Watched, screenshot


def test_report_shows_the_uploads_and_charts(page: tuple[Page, Watched], site: Site) -> None:
    tab, watched = page
    tab.goto(f"{site.url}/visualization/report")
    rows = tab.locator("tbody tr")
    expect(rows).to_have_count(len(UPLOADS))
    for name in UPLOADS:  # shown as text, the hostile one included
        expect(tab.locator(".name", has_text=name)).to_have_count(1)
    assert tab.evaluate(
        "() => window.__xss === undefined && !document.querySelector('img[onerror]')"
    )
    expect(tab.locator("#top-makes svg rect.bar")).not_to_have_count(0)
    expect(tab.locator("#confidence svg rect.bar")).to_have_count(10)
    expect(tab.locator(".guess")).to_have_count(6)  # top-3 for each of the two recognized photos
    for image in tab.locator("td.thumb img").all():  # every thumbnail really loads
        image.scroll_into_view_if_needed()  # they load lazily, as they come into view
        image.evaluate(
            "img => img.complete && img.naturalWidth > 0 || new Promise((ok, fail) => {"
            " img.onload = () => ok(true); img.onerror = () => fail(new Error('thumbnail failed')); })"
        )
        assert image.evaluate("img => img.naturalWidth > 0")
    screenshot(tab, "report")
    watched.check()


def test_graphiql_runs_its_example_query(page: tuple[Page, Watched], site: Site) -> None:
    tab, watched = page
    tab.goto(f"{site.url}/graphql")
    editor = tab.locator(".graphiql-query-editor")
    expect(editor).to_contain_text("files(first: 10)")
    # GraphiQL also POSTs its introspection query on load; that answer may still be in
    # flight when the button is clicked, so wait for the one that carries the example.
    with tab.expect_response(
        lambda r: (
            r.url.endswith("/graphql")
            and r.request.method == "POST"
            and "files(first: 10)" in (r.request.post_data or "")
        )
    ) as answer:
        tab.locator(".graphiql-execute-button").click()
    data = answer.value.json()
    names = {edge["node"]["filename"] for edge in data["data"]["files"]["edges"]}
    assert names == set(UPLOADS)
    # and the result is on the screen
    expect(tab.locator(".graphiql-response")).to_contain_text('"totalCount": 3', timeout=15_000)
    screenshot(tab, "graphiql")
    watched.check()


def test_swagger_ui_lists_the_rest_routes(page: tuple[Page, Watched], site: Site) -> None:
    tab, watched = page
    tab.goto(f"{site.url}/docs")
    expect(tab.locator(".opblock-summary-path", has_text="/upload/").first).to_be_visible(
        timeout=15_000
    )
    expect(
        tab.locator(".opblock-summary-path", has_text="/inference/{image_id}").first
    ).to_be_visible()
    screenshot(tab, "swagger")
    watched.check()


def test_redoc_renders_the_api(page: tuple[Page, Watched], site: Site) -> None:
    tab, watched = page
    tab.goto(f"{site.url}/redoc")
    expect(tab.get_by_text("/visualization/export/csv").first).to_be_attached(timeout=15_000)
    expect(tab.locator("h1").first).to_be_visible()
    screenshot(tab, "redoc")
    watched.check()
