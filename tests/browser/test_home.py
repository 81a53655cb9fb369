"""The page at /, as a browser sees it: uploads with their own progress bars,
recognition with live progress over the GraphQL subscription, the cards
against what GraphQL says, filters and paging, delete, the server's error
messages, the API key form and the offline banner.

Each server here is this module's own, so the `site` fixture's files stay as
the other browser tests expect them."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, FilePayload, Locator, Page, Response, WebSocket, expect

from testkit.servers import server
from tests import images
from tests.browser.conftest import screenshot, watched_page
from tests.car_images import PAINTS, car, encoded

PHOTOS = {
    "red-coupe.jpg": images.jpeg(640, 480, color=(200, 30, 30)),
    "<img src=x onerror=alert(1)>.jpg": images.jpeg(500, 300, color=(30, 30, 200)),
    "teal-suv.png": images.png(400, 300),
}
NOT_AN_IMAGE = b"These are notes about a car, not a photo of one.\n"
KEY = secrets.token_urlsafe(24)  # 32 characters
FILE_FIELDS = "id filename status modelId recognizer predictions { label make model year bodyType }"


def payloads(files: dict[str, bytes]) -> list[FilePayload]:
    def mime(name: str) -> str:
        return "image/png" if name.endswith(".png") else "image/jpeg"

    return [{"name": n, "mimeType": mime(n), "buffer": data} for n, data in files.items()]


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}})
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def wait_until(tab: Page, condition: Callable[[], bool], timeout: float = 10) -> None:
    """Polls a condition on the test's side (websocket frames, say), letting
    Playwright deliver its events in between."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for a condition"
        tab.wait_for_timeout(50)


def frames_of(tab: Page) -> list[dict[str, Any]]:
    """Every graphql-transport-ws message that the page receives on /graphql, as it arrives."""
    received: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        if socket.url.endswith("/graphql"):
            socket.on("framereceived", lambda payload: received.append(json.loads(payload)))

    tab.on("websocket", watch)
    return received


def expect_thumbnail_loaded(image: Locator) -> None:
    image.scroll_into_view_if_needed()  # the cards' images load lazily, as they come into view
    expect(image).to_be_visible()
    image.evaluate(
        "img => img.complete && img.naturalWidth > 0 || new Promise((ok, fail) => {"
        " img.addEventListener('load', () => ok(true));"
        " img.addEventListener('error', () => fail(new Error('thumbnail failed'))); })"
    )
    assert image.evaluate("img => img.naturalWidth > 0")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[str]:
    """An empty server with the tiny model, and a 1 MB limit per photo."""
    folder = tmp_path_factory.mktemp("home")
    with server(folder, HF_MODEL=str(tiny_model), MAX_FILE_SIZE_MB="1") as live:
        yield live.url


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[str]:
    """27 photos (more than a page), the first 6 recognized."""
    folder = tmp_path_factory.mktemp("gallery")
    with server(folder, HF_MODEL=str(tiny_model)) as live:
        ids = []
        names = [f"lot-{n:02}.jpg" for n in range(25)] + ["special-a.jpg", "special-b.jpg"]
        for n, name in enumerate(names):
            data = images.jpeg(64 + n, 48, color=(n * 9, 120, 255 - n * 9))
            answer = httpx.post(f"{live.url}/upload/", files={"file": (name, data, "image/jpeg")})
            answer.raise_for_status()
            ids.append(answer.json()["files"][0]["id"])
        httpx.post(f"{live.url}/inference/batch", json=ids[:6], timeout=60).raise_for_status()
        yield live.url


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with API keys, whose model cannot be loaded."""
    folder = tmp_path_factory.mktemp("locked")
    with server(folder, API_KEYS=KEY, HF_MODEL=str(folder / "no-model-here")) as live:
        yield live.url


def test_upload_recognize_check_the_cards_and_delete(browser: Browser, home: str) -> None:
    with watched_page(browser, home, viewport={"width": 1280, "height": 800}) as (tab, watched):
        frames = frames_of(tab)
        answer = tab.goto(f"{home}/")
        assert answer is not None
        policy = answer.headers["content-security-policy"]
        # The websocket below connects under this policy: 'self' covers ws: to this host.
        assert "connect-src 'self'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        # The drop zone is the label of the file input: both a button and a drop target.
        picker = tab.get_by_label("Drop photos of cars here")
        picker.set_input_files(payloads(PHOTOS))

        rows = tab.locator("#upload-list .upload")
        expect(rows).to_have_count(len(PHOTOS))
        expect(tab.locator('#upload-list .upload[data-state="done"]')).to_have_count(len(PHOTOS))
        for name in PHOTOS:  # each row: its name as text, a full bar, then its thumbnail
            row = rows.filter(has_text=name)
            expect(row.locator(".upload-name")).to_have_text(name)
            expect(row.locator("progress")).to_have_attribute("value", "100")
            expect_thumbnail_loaded(row.locator("img"))
        assert tab.evaluate("() => !document.querySelector('img[onerror]')")

        cards = tab.locator("#cards .card")
        expect(cards).to_have_count(len(PHOTOS))
        # Dropped photos are recognized with no extra click: the upload queues
        # them, and the cards follow their progress from fileEvents.
        expect(cards.locator(".badge")).to_have_text(["Recognized"] * len(PHOTOS))
        expect(tab.locator("#pending-count")).to_have_text("No photo waits for recognition.")

        # What GraphQL says, against what the cards show.
        nodes = graphql(home, f"{{ files(first: 100) {{ nodes {{ {FILE_FIELDS} }} }} }}")["files"][
            "nodes"
        ]
        assert {node["filename"] for node in nodes} == set(PHOTOS)
        for node in nodes:
            assert node["status"] == "DONE"
            card = tab.locator(f'.card[data-id="{node["id"]}"]')
            top = node["predictions"][0]
            expect(card.locator(".file-name")).to_have_text(node["filename"])
            expect(card.locator(".badge")).to_have_text("Recognized")
            expect(card.locator(".car")).to_have_text(f"{top['make']} {top['model']}")
            expect(card.locator(".car-details")).to_contain_text(str(top["year"]))
            expect(card.locator(".car-details")).to_contain_text(top["bodyType"])
            expect(card.locator(".guess-label")).to_have_text(
                [p["label"] for p in node["predictions"][:3]]
            )
            expect(card.locator(".model-info")).to_contain_text(node["modelId"])
            expect(card.locator(".model-info")).to_contain_text(node["recognizer"])
            expect_thumbnail_loaded(card.locator(".card-thumb img"))

        # The subscription carried the progress: a DONE event for each photo.
        done = {node["id"] for node in nodes}

        def events_seen() -> set[str]:
            return {
                f["payload"]["data"]["fileEvents"]["id"]
                for f in frames
                if f.get("type") == "next" and f["payload"]["data"]["fileEvents"]["kind"] == "DONE"
            }

        wait_until(tab, lambda: events_seen() == done)

        screenshot(tab, "home-desktop")
        tab.set_viewport_size({"width": 375, "height": 812})
        # Nothing wider than a phone's screen: no sideways scrolling.
        assert tab.evaluate("() => document.documentElement.scrollWidth") <= 375
        screenshot(tab, "home-phone")
        tab.set_viewport_size({"width": 1280, "height": 800})

        # Reprocess one: its results are cleared and it is recognized again.
        again = tab.locator(f'.card[data-id="{nodes[0]["id"]}"]')
        again.get_by_role("button", name="Reprocess").click()
        expect(tab.locator("#progress-text")).to_have_text("Recognized 1 of 1 photo.")
        expect(again.locator(".badge")).to_have_text("Recognized")
        expect(again.locator(".guess-label")).to_have_count(3)

        # Delete one, after a confirmation that can be cancelled.
        gone = next(
            node for node in nodes if node["filename"] == "<img src=x onerror=alert(1)>.jpg"
        )
        card = tab.locator(f'.card[data-id="{gone["id"]}"]')
        dialog = tab.locator("#confirm-delete")
        card.get_by_role("button", name="Delete").click()
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("<img src=x onerror=alert(1)>.jpg")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        expect(card).to_have_count(1)
        card.get_by_role("button", name="Delete").click()
        dialog.get_by_role("button", name="Delete").click()
        expect(card).to_have_count(0)
        expect(cards).to_have_count(2)
        after = graphql(
            home,
            "query($id: ID!) { file(id: $id) { id } files { totalCount } }",
            {"id": gone["id"]},
        )
        assert after == {"file": None, "files": {"totalCount": 2}}
        watched.check()


def test_refused_photos_show_the_servers_reason(browser: Browser, home: str) -> None:
    refused = {"notes.jpg": NOT_AN_IMAGE, "huge.jpg": images.noisy_jpeg(1000, 900)}
    with watched_page(browser, home) as (tab, watched):
        tab.goto(f"{home}/")
        expect(tab.locator("#list-summary")).not_to_be_empty()
        before = tab.locator("#cards .card").count()
        tab.locator("#file-input").set_input_files(payloads(refused))
        for name, data in refused.items():
            row = tab.locator("#upload-list .upload").filter(has_text=name)
            expect(row).to_have_attribute("data-state", "failed")
            expect(row.locator(".error")).to_have_text(server_reason(home, name, data))
        expect(tab.locator("#cards .card")).to_have_count(before)
        watched.check()


def server_reason(url: str, name: str, data: bytes) -> str:
    """What the server says about these bytes when they are uploaded."""
    operations = {
        "query": "mutation($f: Upload!) { uploadFile(file: $f) { file { id } errors { code message } } }",
        "variables": {"f": None},
    }
    answer = httpx.post(
        f"{url}/graphql",
        headers={"Apollo-Require-Preflight": "true"},
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
        files={"0": (name, data, "image/jpeg")},
    )
    payload = answer.json()["data"]["uploadFile"]
    assert payload["file"] is None
    [error] = payload["errors"]
    assert error["code"] in ("INVALID_IMAGE", "TOO_LARGE")
    message: str = error["message"]
    return message


def test_filters_search_and_load_more(browser: Browser, gallery: str) -> None:
    with watched_page(browser, gallery) as (tab, watched):
        tab.goto(f"{gallery}/")
        cards = tab.locator("#cards .card")
        expect(cards).to_have_count(24)
        expect(tab.locator("#list-summary")).to_have_text("Showing 24 of 27 photos.")
        tab.get_by_role("button", name="Load more photos").click()
        expect(cards).to_have_count(27)
        expect(tab.get_by_role("button", name="Load more photos")).to_be_hidden()

        tab.get_by_label("Status").select_option("DONE")
        expect(cards).to_have_count(6)
        expect(cards.locator(".badge")).to_have_text(["Recognized"] * 6)

        # Make: the first make offered; the server filters (files(make:)),
        # and the page shows what GraphQL says matches.
        makes = tab.locator("#filter-make option")
        expect(makes).not_to_have_count(1)
        make = makes.nth(1).get_attribute("value")
        assert make
        tab.get_by_label("Make").select_option(make)
        matching = httpx.post(
            f"{gallery}/graphql",
            json={
                "query": "query ($m: String) { files(first: 100, status: DONE, make: $m)"
                " { totalCount } }",
                "variables": {"m": make},
            },
        ).json()["data"]["files"]["totalCount"]
        assert matching >= 1
        expect(cards).to_have_count(matching)
        for car in cards.locator(".car").all_text_contents():
            assert car.startswith(make)
        expect(tab.locator("#list-summary")).to_have_text(
            f"Showing {matching} of {matching} photo{'s' if matching > 1 else ''}."
        )

        tab.get_by_label("Make").select_option("")
        tab.get_by_label("Status").select_option("")
        tab.get_by_label("File name").fill("SPECIAL")
        tab.get_by_label("File name").press("Enter")
        expect(cards).to_have_count(2)
        expect(cards.locator(".file-name")).to_have_text(["special-b.jpg", "special-a.jpg"])

        # A photo dropped on the zone is uploaded, and shows up under the search it matches.
        drop = tab.evaluate_handle(
            """([name, bytes]) => {
                const data = new DataTransfer();
                data.items.add(new File([new Uint8Array(bytes)], name, { type: "image/jpeg" }));
                return data;
            }""",
            ["special-dropped.jpg", list(images.jpeg(80, 60))],
        )
        tab.locator("#drop-zone").dispatch_event("drop", {"dataTransfer": drop})
        expect(cards).to_have_count(3)
        expect(cards.first.locator(".file-name")).to_have_text("special-dropped.jpg")
        watched.check()


def test_the_keyboard_reaches_the_photo_picker(browser: Browser, gallery: str) -> None:
    with watched_page(browser, gallery) as (tab, watched):
        tab.goto(f"{gallery}/")
        expect(tab.locator("#cards .card").first).to_be_visible()
        for _ in range(10):  # past the skip link and the header's links
            tab.keyboard.press("Tab")
            if tab.evaluate("() => document.activeElement.id") == "file-input":
                break
        assert tab.evaluate("() => document.activeElement.id") == "file-input"
        # Its focus shows on the drop zone that stands for it.
        outline = tab.locator("#drop-zone").evaluate("zone => getComputedStyle(zone).outlineStyle")
        assert outline == "solid"
        watched.check()


def after_the_mutation(mutation: str, follower: str) -> Callable[[Response], bool]:
    """Matches the answer to `follower` that comes after `mutation`'s."""
    seen = False

    def match(response: Response) -> bool:
        nonlocal seen
        body = response.request.post_data or ""
        seen = seen or body.startswith(f'{{"query":"{mutation}')
        return seen and body.startswith(f'{{"query":"{follower}')

    return match


def refused_for_want_of_a_key(problem: str) -> bool:
    return "/graphql" in problem and ("HTTP 401" in problem or "status of 401" in problem)


def test_asks_for_an_api_key_and_uses_it_everywhere(browser: Browser, locked: str) -> None:
    with watched_page(browser, locked) as (tab, watched):
        sent: list[dict[str, Any]] = []
        tab.on(
            "websocket",
            lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))),
        )
        frames = frames_of(tab)
        tab.goto(f"{locked}/")
        expect(tab.get_by_role("heading", name="This server needs an API key")).to_be_visible()
        expect(tab.locator("#app")).to_be_hidden()
        screenshot(tab, "home-key-form")

        key_field = tab.get_by_label("API key", exact=True)
        key_field.fill("not-the-key-" + "x" * 24)
        tab.get_by_role("button", name="Use this key").click()
        expect(tab.locator("#key-error")).to_have_text("The API key is not valid.")
        key_field.fill(KEY)
        tab.get_by_role("button", name="Use this key").click()
        expect(tab.locator("#app")).to_be_visible()
        assert tab.evaluate("() => sessionStorage.getItem('cars.apiKey')") == KEY

        # The upload carries the key; the thumbnail is fetched with it, shown from a blob: URL.
        tab.locator("#file-input").set_input_files(
            payloads({"locked.jpg": PHOTOS["red-coupe.jpg"]})
        )
        card = tab.locator("#cards .card").filter(has_text="locked.jpg")
        thumb = card.locator(".card-thumb img")
        expect(thumb).to_have_attribute("src", re.compile("^blob:"))
        expect_thumbnail_loaded(thumb)

        # The model cannot be loaded: the server's reason and fix, where recognition was asked for.
        # The page re-reads the pending count after the answer: wait for it, so
        # that the reload below cuts no request short.
        with tab.expect_response(after_the_mutation("mutation Infer", "query PendingCount")):
            card.get_by_role("button", name="Recognize").click()
        problem = tab.locator("#recognize-error")
        expect(problem).to_contain_text("The recognizer is not available.")
        expect(problem).to_contain_text("To fix it")
        expect(card.locator(".action-error")).to_contain_text("could not be loaded")
        expect(tab.locator("#progress-text")).to_have_text(
            "Recognized 0 of 1 photo. 1 could not be recognized."
        )
        expect(card.locator(".badge")).to_have_text("Pending")

        # The websocket sent the key in connection_init, and was let in.
        assert {"type": "connection_init", "payload": {"apiKey": KEY}} in sent
        wait_until(tab, lambda: any(f["type"] == "next" for f in frames))
        assert frames[0]["type"] == "connection_ack"

        # The key stays for the tab's session: a reload does not ask again.
        tab.reload()
        expect(tab.locator("#app")).to_be_visible()
        expect(tab.locator("#cards .card")).to_have_count(1)
        expect(tab.locator("#key-panel")).to_be_hidden()
        # The only refusals are the two asked for: the first load, and the wrong key.
        refusals = [p for p in watched.problems if p.startswith("HTTP 401")]
        assert len(refusals) == 2, watched.problems
        watched.check(expected=refused_for_want_of_a_key)


def unreachable(problem: str) -> bool:
    return ("/graphql" in problem or "/health" in problem) and "ERR_CONNECTION_REFUSED" in problem


def test_a_banner_says_when_the_server_cannot_be_reached(browser: Browser, home: str) -> None:
    with watched_page(browser, home) as (tab, watched):
        tab.goto(f"{home}/")
        banner = tab.locator("#offline")
        expect(tab.locator("#list-summary")).not_to_be_empty()
        expect(banner).to_be_hidden()

        # The server "goes away": its requests fail as a stopped server's do.
        def refuse(route: Any) -> None:
            route.abort("connectionrefused")

        tab.route("**/graphql", refuse)
        tab.route("**/health", refuse)
        tab.get_by_label("File name").fill("red")
        tab.get_by_label("File name").press("Enter")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("The server cannot be reached")
        expect(tab.locator("#list-error")).to_contain_text("cannot be reached")
        screenshot(tab, "home-offline")

        # It comes back: the page's next try finds it, and the banner goes.
        tab.unroute("**/graphql")
        tab.unroute("**/health")
        expect(banner).to_be_hidden(timeout=20_000)
        expect(tab.locator("#list-error")).to_be_empty()
        watched.check(expected=unreachable)


@pytest.fixture(scope="module")
def street(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tiny_detector: Path
) -> Iterator[str]:
    """A server with a detector, and a recognized photo of several vehicles
    (what the tiny random detector takes for vehicles)."""
    folder = tmp_path_factory.mktemp("street")
    env = {"HF_MODEL": str(tiny_model), "DETECTOR": str(tiny_detector), "DETECTOR_THRESHOLD": "0.6"}
    with server(folder, **env) as live:
        photo = encoded(car(PAINTS["red"], width=480, height=320, noise=8, shade=0.8))
        answer = httpx.post(
            f"{live.url}/upload/", files={"file": ("street.png", photo, "image/png")}
        )
        answer.raise_for_status()
        file_id = answer.json()["files"][0]["id"]
        httpx.post(f"{live.url}/inference/{file_id}", timeout=60).raise_for_status()
        yield live.url


def test_the_boxes_of_the_vehicles_are_drawn_on_the_photo(browser: Browser, street: str) -> None:
    [node] = graphql(
        street,
        "{ files(first: 1) { nodes { id width height color { name } "
        "vehicles { box { x y width height } kind color { name } } } } }",
    )["files"]["nodes"]
    vehicles = node["vehicles"]
    assert len(vehicles) >= 2
    with watched_page(browser, street, viewport={"width": 1280, "height": 800}) as (tab, watched):
        tab.goto(f"{street}/")
        card = tab.locator(f'.card[data-id="{node["id"]}"]')
        expect_thumbnail_loaded(card.locator(".card-thumb img"))
        boxes = card.locator(".card-thumb svg.boxes rect.box")
        expect(boxes).to_have_count(len(vehicles))
        names = [f"{v['kind'].lower()} · {v['color']['name']}" for v in vehicles]
        expect(card.locator(".box-label")).to_have_text(names)
        expect(card.locator(".vehicles")).to_have_text(
            f"{len(vehicles)} vehicles: {'; '.join(names)}"
        )
        expect(card.locator(".car-details")).to_contain_text(node["color"]["name"])
        expect(card.locator(".vehicle.main rect.box")).to_have_count(1)
        # Each box lies where its vehicle is on the thumbnail as shown: the photo
        # scaled to cover the 4:3 frame, centred (object-fit: cover).
        frame = card.locator(".card-thumb img").bounding_box()
        assert frame is not None
        scale = max(frame["width"] / node["width"], frame["height"] / node["height"])
        left = frame["x"] + (frame["width"] - node["width"] * scale) / 2
        top = frame["y"] + (frame["height"] - node["height"] * scale) / 2
        for index, vehicle in enumerate(vehicles):
            drawn = boxes.nth(index).bounding_box()
            assert drawn is not None
            box = vehicle["box"]
            want = (left + box["x"] * scale, top + box["y"] * scale, box["width"] * scale)
            got = (drawn["x"], drawn["y"], drawn["width"])
            # within the stroke's width (the bounding box includes it)
            assert all(abs(a - b) <= 3 for a, b in zip(got, want, strict=True)), (got, want)
        screenshot(tab, "home-vehicles")
        watched.check()
