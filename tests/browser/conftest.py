"""Headless Chromium (Debian's, at /usr/bin/chromium) against a real server
process on loopback. Any request to another host is blocked and fails the test,
as do console errors and failed requests. Screenshots go to artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    sync_playwright,
)

from testkit.servers import server
from tests import images

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "artifacts" / "screenshots"
UPLOADS = {
    "red-coupe.jpg": images.jpeg(640, 480, color=(200, 30, 30)),
    "<img src=x onerror=alert(1)>.jpg": images.jpeg(500, 300, color=(30, 30, 200)),
    "white-suv.png": images.png(400, 300),
}


@dataclass
class Site:
    url: str
    file_ids: list[int]


@dataclass
class Watched:
    """What went wrong in the page, as it happened."""

    problems: list[str] = field(default_factory=list)

    def check(self, *, expected: Callable[[str], bool] | None = None) -> None:
        """No problem, but those that `expected` says the test caused on purpose."""
        unexpected = [p for p in self.problems if expected is None or not expected(p)]
        assert unexpected == [], "\n".join(unexpected)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Site]:
    """A server with three uploads, two of them recognized by a tiny local model."""
    folder = tmp_path_factory.mktemp("site")
    with server(folder, HF_MODEL=str(tiny_model)) as live:
        ids = []
        for name, data in UPLOADS.items():
            response = httpx.post(f"{live.url}/upload/", files={"file": (name, data, "image/jpeg")})
            response.raise_for_status()
            ids.append(response.json()["files"][0]["id"])
        httpx.post(f"{live.url}/inference/batch", json=ids[:2], timeout=60).raise_for_status()
        yield Site(live.url, ids)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: scripts/test installs it (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@contextmanager
def watched_page(browser: Browser, url: str, **context: Any) -> Iterator[tuple[Page, Watched]]:
    """A new tab in its own browser context, watched for console errors, failed
    requests, HTTP errors and any request to a host other than `url`'s."""
    watched = Watched()
    own_host = urlsplit(url).netloc
    options: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, **context}
    browser_context = browser.new_context(**options)

    def only_our_host(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc in (own_host, "") or request.url.startswith(
            ("data:", "blob:")
        ):
            route.continue_()
        else:
            watched.problems.append(f"request to another host: {request.url}")
            route.abort()

    browser_context.route("**/*", only_our_host)
    tab = browser_context.new_page()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            watched.problems.append(f"console error: {message.text} ({where})")

    tab.on("console", console)
    tab.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    tab.on(
        "requestfailed", lambda r: watched.problems.append(f"failed request: {r.url} ({r.failure})")
    )

    def response(answer: Response) -> None:
        if answer.status >= 400:
            watched.problems.append(f"HTTP {answer.status}: {answer.url}")

    tab.on("response", response)
    try:
        yield tab, watched
    finally:
        browser_context.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[tuple[Page, Watched]]:
    with watched_page(browser, site.url) as watched:
        yield watched


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
