"""Recognition jobs in one process: recognizeFiles and recognize-on-upload with
the in-process queue (SQLite and PostgreSQL), QUEUED files surviving a restart,
a job run twice storing its results once, and the synchronous routes' bounded
wait with JOB_QUEUE=postgres when no worker takes the jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from config import Settings
from db.models import FileStatus
from resolvers.jobs import run_job
from server import create_app
from testkit.cluster import fresh_database
from tests import images
from tests.helpers import gql, gql_upload, portal_run, services, set_status, upload_jpeg

RECOGNIZE = "mutation ($ids: [ID!]!) { recognizeFiles(ids: $ids) { files { databaseId status } errors { code input } } }"


def _wait_done(client: TestClient, ids: list[int], timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [client.get(f"/files/{i}").json() for i in ids]
        if all(f["status"] in ("done", "failed") for f in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def local(make_settings: Callable[..., Settings], tiny_model: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return make_settings(hf_model=str(tiny_model), **overrides)

    return make


def test_recognize_files_answers_at_once_and_the_jobs_finish(
    local: Callable[..., Settings],
) -> None:
    with TestClient(create_app(local())) as client:
        ids = [upload_jpeg(client, f"{i}.jpg", color=(i * 50, 9, 9))["id"] for i in range(3)]
        answer = gql(client, RECOGNIZE, {"ids": [*map(str, ids), "999"]})["data"]
        payload = answer["recognizeFiles"]
        assert [f["databaseId"] for f in payload["files"]] == ids
        assert {f["status"] for f in payload["files"]} <= {"QUEUED", "PROCESSING", "DONE"}
        assert payload["errors"] == [{"code": "NOT_FOUND", "input": "999"}]
        done = _wait_done(client, ids)
        assert [(f["status"], len(f["results"])) for f in done] == [("done", 5)] * 3


def test_uploads_ask_for_recognition_or_auto_recognize_does(
    local: Callable[..., Settings],
) -> None:
    with TestClient(create_app(local())) as client:
        plain = upload_jpeg(client, "plain.jpg", color=(1, 1, 1))
        assert plain["status"] == "pending"
        answer = client.post(
            "/upload/?recognize=true",
            files={"file": ("asked.jpg", images.jpeg(color=(2, 80, 2)), "image/jpeg")},
        )
        asked = answer.json()["files"][0]
        assert asked["status"] in ("queued", "processing", "done")
        query = "mutation ($f: Upload!) { uploadFile(file: $f, recognize: true) { file { databaseId status } } }"
        sent = gql_upload(
            client,
            query,
            {"0": ("g.jpg", images.jpeg(color=(3, 3, 90)))},
            {"f": None},
            {"0": ["variables.f"]},
        ).json()
        gql_id = sent["data"]["uploadFile"]["file"]["databaseId"]
        assert [f["status"] for f in _wait_done(client, [asked["id"], gql_id])] == ["done"] * 2
        assert client.get(f"/files/{plain['id']}").json()["status"] == "pending"
        bad = client.post(
            "/upload/?recognize=maybe",
            files={"file": ("x.jpg", images.jpeg(color=(4, 4, 4)), "image/jpeg")},
        )
        assert bad.status_code == 400
    with TestClient(create_app(local(auto_recognize=True))) as client:
        auto = upload_jpeg(client, "auto.jpg", color=(5, 5, 200))
        assert _wait_done(client, [auto["id"]])[0]["status"] == "done"
        opted_out = client.post(
            "/upload/?recognize=false",
            files={"file": ("no.jpg", images.jpeg(color=(6, 6, 6)), "image/jpeg")},
        ).json()["files"][0]
        assert opted_out["status"] == "pending"


def test_files_left_queued_by_a_stop_are_recognized_after_a_restart(
    local: Callable[..., Settings],
) -> None:
    settings = local()
    with TestClient(create_app(settings)) as client:
        file_id = upload_jpeg(client)["id"]
        set_status(client, file_id, FileStatus.QUEUED)  # queued when the server stopped
    with TestClient(create_app(settings)) as client:
        [found] = _wait_done(client, [file_id])
        assert (found["status"], len(found["results"])) == ("done", 5)


def test_a_job_run_twice_stores_its_results_once(local: Callable[..., Settings]) -> None:
    with TestClient(create_app(local())) as client:
        file_id = upload_jpeg(client)["id"]
        svc = services(client)
        # As when a worker dies after storing, before the queue hears: the
        # job runs again, and again on a file still marked processing.
        portal_run(client, lambda: run_job(svc, file_id))
        first = client.get(f"/files/{file_id}").json()
        set_status(client, file_id, FileStatus.PROCESSING)
        portal_run(client, lambda: run_job(svc, file_id))
        again = client.get(f"/files/{file_id}").json()
        assert len(first["results"]) == len(again["results"]) == 5
        assert again["results"] == first["results"]
        assert again["status"] == "done"


def test_a_postgres_queue_needs_a_postgres_database(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, upload_dir=tmp_path, job_queue="postgres")
    assert "JOB_QUEUE=postgres keeps its jobs in PostgreSQL" in str(refused.value)
    assert "sqlite+aiosqlite" in str(refused.value)


def test_with_no_worker_the_synchronous_routes_answer_still_queued(
    tmp_path: Path, tiny_model: Path
) -> None:
    def local(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "upload_dir": tmp_path,
            "database_url": url,
            "hf_model": str(tiny_model),
        }
        return Settings(_env_file=None, job_queue="postgres", **values, **overrides)

    with fresh_database() as url:
        _still_queued_then_done(local)


def _still_queued_then_done(local: Callable[..., Settings]) -> None:
    settings = local(run_worker=False, job_wait_seconds=0.5)
    with TestClient(create_app(settings)) as client:
        file_id = upload_jpeg(client)["id"]
        answer = client.post(f"/inference/{file_id}")
        assert answer.status_code == 202
        body = answer.json()
        assert (body["id"], body["status"], body["predictions"]) == (file_id, "queued", [])
        assert "still queued after 0.5 s" in body["detail"]
        batch = client.post("/inference/batch", json=[file_id]).json()
        assert batch[0]["status"] == "queued"
        assert "still queued" in batch[0]["error"]
        query = "mutation ($id: ID!) { inferFile(id: $id) { file { status } errors { code } } }"
        result = gql(client, query, {"id": str(file_id)})["data"]["inferFile"]
        assert result == {"file": {"status": "QUEUED"}, "errors": [{"code": "STILL_QUEUED"}]}
    # A replica that takes jobs itself finishes the job left in the queue.
    with TestClient(create_app(local())) as client:
        [found] = _wait_done(client, [file_id])
        assert (found["status"], len(found["results"])) == ("done", 5)
