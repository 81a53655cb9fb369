"""GET /files/ serves each page of files, and each file, as kept in the
database while nothing in it changed, and every kind of write makes it put
them together again: what is kept is replaced by a marker first, and the
listing after the write must be, byte for byte, the one rendered with nothing
kept, but for the markers of what the write did not touch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

import db.listing
from config import Settings
from db.models import FileStatus
from server import create_app
from tests.fake_hf import FakeHuggingFace, answer
from tests.helpers import portal_run, record_predictions, services, set_status, upload_jpeg

Write = Callable[[TestClient, FakeHuggingFace, list[int]], None]


@pytest.fixture
def hf_client(hf_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(hf_settings)) as client:
        yield client


def _sql(client: TestClient, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Raw SQL on the app's database, as a writer that knows nothing of the cache."""
    engine = services(client).engine

    async def run() -> list[tuple[Any, ...]]:
        async with engine.begin() as connection:
            result = await connection.execute(sa.text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []

    rows: list[tuple[Any, ...]] = portal_run(client, run)
    return rows


def _mark(client: TestClient, ids: list[int]) -> None:
    """Replace the elements kept for these files by a marker, under the
    versions their rows have now; the pages are put together again from them."""
    for file_id in ids:
        _sql(
            client,
            "UPDATE file_listings SET body = :body WHERE file_id = :id",
            body=_marker(file_id),
            id=file_id,
        )
    _sql(client, "DELETE FROM listing_pages")


def _mark_pages(client: TestClient) -> None:
    """Replace each kept page by a marker, under the key it has now."""
    for (first_id,) in _sql(client, "SELECT first_id FROM listing_pages"):
        marker = json.dumps({"page": first_id}, separators=(",", ":")).encode()
        _sql(client, "UPDATE listing_pages SET body = :b WHERE first_id = :f", b=marker, f=first_id)


def _listing(client: TestClient) -> bytes:
    response = client.get("/files/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.content


def _rendered_afresh(client: TestClient) -> bytes:
    _sql(client, "DELETE FROM file_listings")
    _sql(client, "DELETE FROM listing_pages")
    return _listing(client)


def _collection(client: TestClient) -> list[int]:
    """Three files: one recognized, two pending; listed once, so all are kept."""
    ids = [upload_jpeg(client, f"{i}.jpg", color=(i * 60, 10, 10))["id"] for i in range(3)]
    assert client.post(f"/inference/{ids[1]}").status_code == 200
    _listing(client)
    assert _sql(client, "SELECT count(*) FROM file_listings") == [(3,)]
    assert _sql(client, "SELECT count(*) FROM listing_pages") == [(1,)]
    return ids


def _recognize(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    assert client.post(f"/inference/{ids[0]}").status_code == 200


def _fail(client: TestClient, hf: FakeHuggingFace, ids: list[int]) -> None:
    hf.then(answer(400, {"error": "Could not read the image"}))
    assert client.post(f"/inference/{ids[0]}").status_code >= 400
    assert client.get(f"/files/{ids[0]}").json()["status"] == FileStatus.FAILED.value


def _reprocess(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    assert client.post(f"/files/{ids[1]}/reprocess").status_code == 200


def _delete(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    assert client.delete(f"/files/{ids[1]}").status_code == 200
    # its kept body went with it
    assert _sql(client, "SELECT count(*) FROM file_listings WHERE file_id = :i", i=ids[1]) == [(0,)]


def _upload(client: TestClient, _hf: FakeHuggingFace, _ids: list[int]) -> None:
    upload_jpeg(client, "new.jpg", color=(1, 200, 1))


def _same_bytes_again(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    """Recognition that reuses what the model said about the same bytes."""
    same = client.get(f"/files/{ids[1]}/image").content
    response = client.post("/upload/", files={"file": ("again.jpg", same, "image/jpeg")})
    again = response.json()["files"][0]["id"]
    assert client.post(f"/inference/{again}").status_code == 200


def _orm_write(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    record_predictions(client, ids[1], [("Audi S4 Sedan 2012", 0.5)], inference_ms=3.25)


def _status_only(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    set_status(client, ids[0], FileStatus.FAILED, error="Recognition was interrupted.")


def _raw_update(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    _sql(client, "UPDATE files SET filename = 'renamed.jpg' WHERE id = :i", i=ids[0])


def _raw_update_that_sets_the_version(
    client: TestClient, _hf: FakeHuggingFace, ids: list[int]
) -> None:
    _sql(client, "UPDATE files SET filename = 'x.jpg', version = 1 WHERE id = :i", i=ids[0])


def _raw_prediction_insert(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    _sql(
        client,
        "INSERT INTO predictions (file_id, rank, label, confidence) VALUES (:i, 6, 'Extra', 0.001)",
        i=ids[1],
    )


def _raw_prediction_update(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    _sql(
        client, "UPDATE predictions SET confidence = 0.5 WHERE file_id = :i AND rank = 2", i=ids[1]
    )


def _raw_prediction_delete(client: TestClient, _hf: FakeHuggingFace, ids: list[int]) -> None:
    _sql(client, "DELETE FROM predictions WHERE file_id = :i AND rank > 1", i=ids[1])


def _a_column_the_listing_does_not_show(
    client: TestClient, _hf: FakeHuggingFace, ids: list[int]
) -> None:
    _sql(client, "UPDATE files SET top_label = 'Something else' WHERE id = :i", i=ids[1])


# Each kind of write, with the files it touches (by position in _collection).
WRITES: list[tuple[Write, list[int]]] = [
    (_upload, []),
    (_recognize, [0]),
    (_fail, [0]),
    (_reprocess, [1]),
    (_delete, [1]),
    (_same_bytes_again, []),
    (_orm_write, [1]),
    (_status_only, [0]),
    (_raw_update, [0]),
    (_raw_update_that_sets_the_version, [0]),
    (_raw_prediction_insert, [1]),
    (_raw_prediction_update, [1]),
    (_raw_prediction_delete, [1]),
    (_a_column_the_listing_does_not_show, [1]),
]


def _elements(listing: bytes) -> list[bytes]:
    """The bytes of each element of a JSON array, as they were sent."""
    text, decoder, found, at = listing.decode(), json.JSONDecoder(), [], 1
    while text[at] != "]":
        _, end = decoder.raw_decode(text, at)
        found.append(text[at:end].encode())
        at = end + (text[end] == ",")
    return found


def _marker(file_id: int) -> bytes:
    return json.dumps({"kept": file_id}).encode()


def _expect(client: TestClient, ids: list[int], touched: list[int]) -> None:
    """The listing serves what was kept for the files not touched, and for the
    others exactly the bytes it renders with nothing kept, which are the files
    as GET /files/{id} shows them."""
    after = _listing(client)
    afresh = _elements(_rendered_afresh(client))
    kept = {i for i in ids if i not in touched}
    expected = [
        _marker(file_id) if (file_id := json.loads(element)["id"]) in kept else element
        for element in afresh
    ]
    assert _elements(after) == expected
    assert after == b"[" + b",".join(expected) + b"]"
    for element in afresh:
        shown = json.loads(element)
        assert shown == client.get(f"/files/{shown['id']}").json()


@pytest.mark.parametrize(("write", "touched"), WRITES)
def test_after_each_kind_of_write_the_listing_is_what_it_renders_afresh(
    hf_client: TestClient, fake_hf: FakeHuggingFace, write: Write, touched: list[int]
) -> None:
    ids = _collection(hf_client)
    _mark(hf_client, ids)
    # What is kept is what is served, while nothing changes.
    assert _elements(_listing(hf_client)) == [_marker(i) for i in ids]
    write(hf_client, fake_hf, ids)
    _expect(hf_client, ids, [ids[n] for n in touched])


@pytest.mark.parametrize("write", [write for write, _touched in WRITES])
def test_after_each_kind_of_write_no_kept_page_of_it_is_served(
    hf_client: TestClient, fake_hf: FakeHuggingFace, write: Write
) -> None:
    ids = _collection(hf_client)
    _mark_pages(hf_client)
    assert _listing(hf_client) == b'[{"page":1}]'
    write(hf_client, fake_hf, ids)
    assert _listing(hf_client) == _rendered_afresh(hf_client)


def test_a_write_puts_together_again_only_its_own_page(
    hf_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db.listing, "PAGE", 2)  # pages of ids 1-2, 3-4, 5-6
    ids = [upload_jpeg(hf_client, f"{i}.jpg", color=(i * 40, 10, 10))["id"] for i in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    _listing(hf_client)
    assert _sql(hf_client, "SELECT first_id FROM listing_pages ORDER BY 1") == [(1,), (3,), (5,)]
    _mark_pages(hf_client)
    assert _listing(hf_client) == b'[{"page":1},{"page":3},{"page":5}]'
    assert hf_client.post("/inference/4").status_code == 200
    assert hf_client.delete("/files/5").status_code == 200
    after = _listing(hf_client)
    afresh = _elements(_rendered_afresh(hf_client))
    assert after == b"[" + b",".join([b'{"page":1}', *afresh[2:]]) + b"]"
    assert [json.loads(element)["id"] for element in afresh] == [1, 2, 3, 4]


def test_what_another_rendering_kept_is_not_served(hf_client: TestClient) -> None:
    ids = _collection(hf_client)
    _mark(hf_client, ids)
    _sql(hf_client, "UPDATE file_listings SET shape = 'an older release'")
    _expect(hf_client, ids, ids)
    _listing(hf_client)
    _mark_pages(hf_client)
    _sql(hf_client, "UPDATE listing_pages SET shape = 'an older release'")
    assert _listing(hf_client) == _rendered_afresh(hf_client)


def test_files_released_at_restart_are_rendered_again(hf_settings: Settings) -> None:
    with TestClient(create_app(hf_settings)) as client:
        ids = _collection(client)
        set_status(client, ids[0], FileStatus.PROCESSING)  # then the server stops mid-way
        _listing(client)
        _mark(client, ids)
        assert json.loads(_listing(client))[0] == {"kept": ids[0]}
    with TestClient(create_app(hf_settings)) as client:
        assert client.get(f"/files/{ids[0]}").json()["status"] == FileStatus.PENDING.value
        _expect(client, ids, [ids[0]])
