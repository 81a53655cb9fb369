"""GET and POST /catalog."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_post_then_get_catalog(client: TestClient) -> None:
    response = client.post(
        "/catalog",
        json=[
            {"make": "Polestar", "model": "2", "body_type": "Sedan", "year_from": 2021},
            {"make": "Polestar", "model": "2", "body_type": "Sedan", "year_from": 2021},
            {"make": "", "model": "x"},
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["label"] for e in body["added"]] == ["Polestar 2 Sedan 2021+"]
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (1, "DUPLICATE"),
        (2, "EMPTY_NAME"),
    ]

    listed = client.get("/catalog", params={"make": "polestar"}).json()
    assert listed["total"] == 1
    assert listed["next"] is None
    assert listed["entries"][0]["year_from"] == 2021
    assert listed["entries"][0]["year_to"] is None
    assert listed["entries"][0]["enabled"] is True

    first = client.get("/catalog", params={"limit": 2}).json()
    assert len(first["entries"]) == 2
    second = client.get("/catalog", params={"limit": 2, "after": first["next"]}).json()
    assert second["entries"][0]["id"] > first["entries"][1]["id"]


def test_post_catalog_refuses_what_is_not_a_list_of_entries(client: TestClient) -> None:
    for body in (b"{}", b"[]", b"nonsense", b'[{"make": "A", "model": "B", "year_from": true}]'):
        response = client.post(
            "/catalog", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, body
        assert "detail" in response.json()
    assert client.get("/catalog", params={"limit": "many"}).status_code == 400
