"""/visualization/: statistics on a known collection, the CSV export, the report."""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

import pytest
from starlette.testclient import TestClient

from config import Settings
from db.models import FileStatus
from server import create_app
from tests import images
from tests.helpers import gql, record_failure, record_predictions, set_status, upload_jpeg

# (file name, top-k labels with confidence, recognition ms) for files that are done
DONE = [
    ("m3-front.jpg", [("BMW M3 Coupe 2012", 1.0), ("Audi S5 Coupe 2012", 0.0)], 100.0),
    ("m3-side.jpg", [("BMW M3 Coupe 2012", 0.85), ("BMW M5 Sedan 2010", 0.1)], 200.0),
    ("x5.jpg", [("BMW X5 SUV 2007", 0.5)], 300.0),
    ("range.jpg", [("Land Rover Range Rover SUV 2012", 0.65)], 400.0),
    ("blurry.jpg", [("Audi S4 Sedan 2012", 0.05)], 500.0),
]
FAILED = [("f1.jpg", "401 bad token"), ("f2.jpg", "401 bad token"), ("f3.jpg", "timed out")]
PENDING = ["p1.jpg", "p2.jpg"]


def known_collection(client: TestClient) -> dict[str, int]:
    ids: dict[str, int] = {}
    for i, (name, labels, ms) in enumerate(DONE):
        ids[name] = upload_jpeg(client, name, color=(i * 40, 10, 10))["id"]
        record_predictions(client, ids[name], labels, inference_ms=ms)
    for i, (name, reason) in enumerate(FAILED):
        ids[name] = upload_jpeg(client, name, color=(10, i * 40, 10))["id"]
        record_failure(client, ids[name], reason)
    for i, name in enumerate(PENDING):
        ids[name] = upload_jpeg(client, name, color=(10, 10, i * 40))["id"]
    return ids


EXPECTED_STATS: dict[str, Any] = {
    "total_files": 10,
    "processed_files": 5,
    "unprocessed_files": 5,
    # the original's meaning: whole top-1 labels; ties in alphabetical order
    "top_brands": [
        {"label": "BMW M3 Coupe 2012", "count": 2},
        {"label": "Audi S4 Sedan 2012", "count": 1},
        {"label": "BMW X5 SUV 2007", "count": 1},
        {"label": "Land Rover Range Rover SUV 2012", "count": 1},
    ],
    "by_status": {"pending": 2, "queued": 0, "processing": 0, "done": 5, "failed": 3},
    "top_makes": [
        {"make": "BMW", "count": 3},
        {"make": "Audi", "count": 1},
        {"make": "Land Rover", "count": 1},
    ],
    "top_models": [
        {"make": "BMW", "model": "M3", "count": 2},
        {"make": "Audi", "model": "S4", "count": 1},
        {"make": "BMW", "model": "X5", "count": 1},
        {"make": "Land Rover", "model": "Range Rover", "count": 1},
    ],
    # 0.05 → [0, .1); 0.5 → [.5, .6); 0.65 → [.6, .7); 0.85 → [.8, .9); 1.0 → [.9, 1]
    "confidence_histogram": [
        {
            "low": round(i / 10, 2),
            "high": round((i + 1) / 10, 2),
            "count": 1 if i in (0, 5, 6, 8, 9) else 0,
        }
        for i in range(10)
    ],
    "low_confidence": {"threshold": 0.5, "count": 1},  # 0.05 only: 0.5 is not below 0.5
    "failures": [{"reason": "401 bad token", "count": 2}, {"reason": "timed out", "count": 1}],
    "mean_inference_ms": 300.0,
}


def test_stats_of_a_known_collection(client: TestClient) -> None:
    known_collection(client)
    response = client.get("/visualization/stats")
    assert response.status_code == 200
    assert response.json() == EXPECTED_STATS


def test_graphql_stats_match_rest(client: TestClient) -> None:
    known_collection(client)
    query = """{ stats { totalFiles processedFiles unprocessedFiles byStatus { status count }
      topBrands { label count } topMakes { make count } topModels { make model count }
      confidenceHistogram { low high count } lowConfidenceThreshold lowConfidenceCount
      failures { reason count } meanInferenceMs } }"""
    s = gql(client, query)["data"]["stats"]
    e = EXPECTED_STATS
    assert (s["totalFiles"], s["processedFiles"], s["unprocessedFiles"]) == (10, 5, 5)
    assert {b["status"].lower(): b["count"] for b in s["byStatus"]} == e["by_status"]
    assert s["topBrands"] == e["top_brands"]
    assert s["topMakes"] == e["top_makes"]
    assert s["topModels"] == e["top_models"]
    assert s["confidenceHistogram"] == e["confidence_histogram"]
    assert (s["lowConfidenceThreshold"], s["lowConfidenceCount"]) == (0.5, 1)
    assert s["failures"] == e["failures"]
    assert s["meanInferenceMs"] == 300.0


def test_stats_of_an_empty_collection(client: TestClient) -> None:
    body = client.get("/visualization/stats").json()
    assert (body["total_files"], body["processed_files"], body["top_brands"]) == (0, 0, [])
    assert body["mean_inference_ms"] is None


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_export_starts_with_the_original_columns_and_lists_results(client: TestClient) -> None:
    known_collection(client)
    response = client.get("/visualization/export/csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == "attachment; filename=results.csv"
    header = response.text.splitlines()[0]
    assert header.startswith("filename,top_prediction,confidence,all_predictions,")
    assert (
        header
        == "filename,top_prediction,confidence,all_predictions,make,model,body_type,year,model_id,status,uploaded_at"
    )
    rows = read_csv(response.text)
    assert [r["filename"] for r in rows] == [
        name for name, _, _ in DONE
    ]  # results only, by default
    first = rows[0]
    assert (
        first["top_prediction"],
        first["confidence"],
        first["make"],
        first["model"],
        first["body_type"],
        first["year"],
    ) == (
        "BMW M3 Coupe 2012",
        "1.0000",
        "BMW",
        "M3",
        "Coupe",
        "2012",
    )
    assert first["all_predictions"] == "BMW M3 Coupe 2012 (1.0000); Audi S5 Coupe 2012 (0.0000)"


def test_csv_filters_by_status_and_make(client: TestClient) -> None:
    known_collection(client)
    every = read_csv(client.get("/visualization/export/csv?status=all").text)
    assert len(every) == 10
    failed = read_csv(client.get("/visualization/export/csv?status=failed").text)
    assert [(r["filename"], r["status"], r["top_prediction"]) for r in failed] == [
        (n, "failed", "") for n, _ in FAILED
    ]
    bmw = read_csv(client.get("/visualization/export/csv?make=bmw").text)
    assert [r["filename"] for r in bmw] == ["m3-front.jpg", "m3-side.jpg", "x5.jpg"]
    assert (
        read_csv(client.get("/visualization/export/csv?make=Land%20Rover&status=done").text)[0][
            "filename"
        ]
        == "range.jpg"
    )
    assert read_csv(client.get("/visualization/export/csv?make=Tesla").text) == []
    wrong = client.get("/visualization/export/csv?status=finished")
    assert wrong.status_code == 400
    assert "status must be one of" in wrong.json()["detail"]


def test_csv_make_filters_no_database_can_take_are_400(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A NUL in `make` used to reach the query: on PostgreSQL
    the answer was 200 with a CSV cut off after its header, and a traceback at
    ERROR. Now it is refused before anything is read, on both databases."""
    known_collection(client)
    for make in ("%00", "BMW%00"):
        response = client.get(f"/visualization/export/csv?make={make}")
        assert response.status_code == 400, (make, response.text)
        assert "`make`" in response.json()["detail"]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert len(read_csv(client.get("/visualization/export/csv?status=all").text)) == 10


def test_csv_is_404_until_something_is_recognized(client: TestClient) -> None:
    upload_jpeg(client)
    response = client.get("/visualization/export/csv")
    assert response.status_code == 404
    assert "Nothing has been recognized" in response.json()["detail"]


def test_csv_quotes_correctly_and_neutralises_formulas(client: TestClient) -> None:
    names = [
        "comma, semicolon; and 'quote'.jpg",
        "=1+2.jpg",
        "+SUM(A1).jpg",
        "-2+3.jpg",
        "@SUM(A1).jpg",
        "plain.jpg",
    ]
    labels = {
        "plain.jpg": "\tTAB label",
        "=1+2.jpg": '=HYPERLINK("http://x")',
        names[0]: 'Ford "Model T", runabout 1908',
    }
    for i, name in enumerate(names):
        file_id = upload_jpeg(client, name, color=(i * 30, 0, 0))["id"]
        record_predictions(client, file_id, [(labels.get(name, "BMW M3 Coupe 2012"), 0.5)])
    text = client.get("/visualization/export/csv").text
    assert '"Ford ""Model T"", runabout 1908"' in text  # RFC 4180 quoting
    rows = read_csv(text)
    assert [r["filename"] for r in rows] == [
        "comma, semicolon; and 'quote'.jpg",
        "'=1+2.jpg",
        "'+SUM(A1).jpg",
        "'-2+3.jpg",
        "'@SUM(A1).jpg",
        "plain.jpg",
    ]
    assert rows[0]["top_prediction"] == 'Ford "Model T", runabout 1908'
    assert rows[1]["top_prediction"] == '\'=HYPERLINK("http://x")'
    assert rows[1]["all_predictions"].startswith("'=HYPERLINK")
    assert rows[5]["top_prediction"] == "'\tTAB label"
    # every cell of every row that a spreadsheet would run is defused
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_report_shows_the_files_and_charts(client: TestClient) -> None:
    known_collection(client)
    response = client.get("/visualization/report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    for name, _, _ in DONE:
        assert name in html
    assert 'aria-label="Bar chart of the most frequent makes"' in html
    assert 'aria-label="Histogram of top-1 confidence"' in html
    assert "BMW M3 Coupe 2012" in html
    assert "401 bad token" in html
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html


def test_an_upload_named_like_html_is_shown_as_text(client: TestClient) -> None:
    hostile = "<img src=x onerror=alert(1)>.jpg"
    upload_jpeg(client, hostile)
    html = client.get("/visualization/report").text
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in html
    assert "<img src=x" not in html


def test_report_pages_through_a_large_collection(make_settings: Any) -> None:
    settings: Settings = make_settings(report_page_size=2)
    with TestClient(create_app(settings)) as client:
        names = [
            upload_jpeg(client, f"car-{i}.jpg", color=(i * 40, 0, 0))["filename"] for i in range(5)
        ]
        first = client.get("/visualization/report").text
        assert "page 1 of 3" in first
        assert "car-4.jpg" in first
        assert "car-3.jpg" in first
        assert "car-2.jpg" not in first
        last = client.get("/visualization/report?page=3").text
        assert "car-0.jpg" in last
        assert "car-1.jpg" not in last
        assert (
            "car-0.jpg" in client.get("/visualization/report?page=99").text
        )  # past the end: the last page
        for bad in ("0", "-1", "abc", "1e3"):
            response = client.get(f"/visualization/report?page={bad}")
            assert response.status_code == 400, bad
        assert names


def test_report_of_an_empty_collection(client: TestClient) -> None:
    html = client.get("/visualization/report").text
    assert "No photos yet" in html
    assert "No recognized photos yet" in html


@pytest.mark.parametrize(
    "path", ["/visualization/stats", "/visualization/report", "/visualization/export/csv"]
)
def test_visualization_routes_answer_json_errors_for_wrong_methods(
    client: TestClient, path: str
) -> None:
    response = client.post(path)
    assert response.status_code == 405
    assert "detail" in response.json()
    assert images  # the module's helpers are in use elsewhere in this file


def test_stats_follow_recognition_reuse_and_reprocessing(
    make_settings: Any, tiny_model: Any
) -> None:
    """Statistics and the make filter read each file's best guess from its row:
    recognizing, reusing the results of the same bytes, and reprocessing keep it
    in step with the predictions."""
    with TestClient(create_app(make_settings(hf_model=str(tiny_model)))) as client:
        photo = images.jpeg(color=(120, 30, 200))
        first = client.post("/upload/", files={"file": ("a.jpg", photo, "image/jpeg")})
        a = first.json()["files"][0]["id"]
        best = client.post(f"/inference/{a}").json()["predictions"][0]
        stats = client.get("/visualization/stats").json()
        assert stats["top_brands"] == [{"label": best["label"], "count": 1}]
        assert stats["top_makes"] == [{"make": best["make"], "count": 1}]
        assert stats["top_models"] == [{"make": best["make"], "model": best["model"], "count": 1}]
        assert sum(b["count"] for b in stats["confidence_histogram"]) == 1

        # the same bytes again: the stored results are reused, best guess included
        again = client.post("/upload/", files={"file": ("b.jpg", photo, "image/jpeg")})
        b = again.json()["files"][0]["id"]
        assert client.post(f"/inference/{b}").json()["predictions"][0] == best
        assert client.get("/visualization/stats").json()["top_brands"] == [
            {"label": best["label"], "count": 2}
        ]
        query = "query($make: String) { files(make: $make) { nodes { databaseId } } }"
        found = gql(client, query, {"make": best["make"].upper()})["data"]["files"]["nodes"]
        assert [f["databaseId"] for f in found] == [b, a]

        # reprocessing forgets the best guess with the predictions
        client.post(f"/files/{a}/reprocess")
        stats = client.get("/visualization/stats").json()
        assert stats["top_brands"] == [{"label": best["label"], "count": 1}]
        assert stats["processed_files"] == 1
        found = gql(client, query, {"make": best["make"]})["data"]["files"]["nodes"]
        assert [f["databaseId"] for f in found] == [b]


def test_failure_reasons_of_any_length_are_counted(client: TestClient) -> None:
    """Reasons are grouped from a partial index of the short ones and, apart,
    the long ones (db/files.py): both count, with no reason too, in one order
    on every database. A long reason that does not compress must be storable
    at all (a PostgreSQL index entry holds about 2.7 KB)."""
    long_reason = "The recognizer said: " + secrets.token_hex(5000)
    reasons = [long_reason, long_reason, "timed out", None, "401 bad token", "timed out"]
    for i, reason in enumerate(reasons):
        file_id = upload_jpeg(client, f"f{i}.jpg", color=(i * 30, 0, 0))["id"]
        set_status(client, file_id, FileStatus.FAILED, error=reason)
    failures = client.get("/visualization/stats").json()["failures"]
    assert failures == [
        {"reason": long_reason, "count": 2},
        {"reason": "timed out", "count": 2},
        {"reason": "(no reason recorded)", "count": 1},
        {"reason": "401 bad token", "count": 1},
    ]
