"""The zero-shot backend with a tiny random CLIP, over HTTP, against a real
database catalog; its scores checked against transformers' own pipeline."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient
from transformers import pipeline

from config import NEGATIVE_PROMPTS, Settings
from recognition.base import ImageRef, Recognition
from recognition.prompts import COLOR_PROMPT, COLORS, entry_prompt
from server import create_app
from testkit.catalog import seed_entries
from testkit.memory import Sampler, rss_mb
from testkit.servers import LiveServer, server
from tests import images
from tests.helpers import gql, portal_run, services

FILE = (
    "status verdict recognizer modelId "
    "predictions { rank label confidence make model bodyType year }"
)


@pytest.fixture
def zs_settings(make_settings: Callable[..., Settings], tiny_clip: Path) -> Settings:
    return make_settings(recognizer="zero-shot", zero_shot_model=str(tiny_clip), precision="fp32")


def noise_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (180, 240, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def upload(client: TestClient, data: bytes, name: str = "photo.png") -> int:
    response = client.post("/upload/", files={"file": (name, data, "image/png")})
    assert response.status_code == 200, response.text
    return int(response.json()["files"][0]["id"])


def infer(client: TestClient, file_id: int) -> dict[str, Any]:
    result = gql(
        client,
        "mutation($id: ID!) { inferFile(id: $id) { file { "
        + FILE
        + " } errors { code message } } }",
        {"id": str(file_id)},
    )["data"]["inferFile"]
    assert result["errors"] == [], result
    file: dict[str, Any] = result["file"]
    return file


def enabled_entries(client: TestClient) -> list[dict[str, Any]]:
    query = "query($a: String) { catalog(first: 100, after: $a) { pageInfo { hasNextPage endCursor } nodes { id label make model bodyType yearFrom yearTo enabled } } }"
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = gql(client, query, {"a": after})["data"]["catalog"]
        found += [n for n in page["nodes"] if n["enabled"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def test_predictions_are_catalog_entries_with_the_pipelines_scores(
    zs_settings: Settings, tiny_clip: Path, tmp_path: Path
) -> None:
    data = noise_png(1)
    (tmp_path / "photo.png").write_bytes(data)
    with TestClient(create_app(zs_settings)) as client:
        file = infer(client, upload(client, data))
        entries = enabled_entries(client)
    assert (file["status"], file["recognizer"]) == ("DONE", "zero-shot")
    assert file["verdict"] == "CAR"  # the built-in negatives are far from this noise
    by_label = {e["label"]: e for e in entries}
    for p in file["predictions"]:  # the entry's own fields, no label parsing
        entry = by_label[p["label"]]
        assert (p["make"], p["model"], p["bodyType"]) == (
            entry["make"],
            entry["model"],
            entry["bodyType"],
        )
        single = entry["yearFrom"] if entry["yearFrom"] == entry["yearTo"] else None
        assert p["year"] == single

    class Row:  # the prompt of each entry, as the recognizer builds it
        def __init__(self, e: dict[str, Any]) -> None:
            self.id, self.make, self.model = None, e["make"], e["model"]
            self.body_type, self.year_from, self.year_to = e["bodyType"], e["yearFrom"], e["yearTo"]

    prompts = {entry_prompt(zs_settings.zero_shot_prompt, Row(e)): e["label"] for e in entries}
    classify = pipeline("zero-shot-image-classification", model=str(tiny_clip))
    expected = classify(
        str(tmp_path / "photo.png"), candidate_labels=list(prompts), hypothesis_template="{}"
    )
    top = expected[: len(file["predictions"])]
    assert [prompts[t["label"]] for t in top] == [p["label"] for p in file["predictions"]]
    for ours, theirs in zip(file["predictions"], top, strict=True):
        assert ours["confidence"] == pytest.approx(theirs["score"], abs=1e-4)


class _Entry:
    """A catalog entry as GraphQL lists it, read as the recognizer reads a row."""

    def __init__(self, e: dict[str, Any]) -> None:
        self.id, self.make, self.model = None, e["make"], e["model"]
        self.body_type, self.year_from, self.year_to = e["bodyType"], e["yearFrom"], e["yearTo"]


def test_verdict_is_not_car_exactly_when_a_negative_prompt_wins(
    make_settings: Callable[..., Settings], tiny_clip: Path, tmp_path: Path
) -> None:
    """Asked with the catalog and the negative prompts together, the pipeline
    ranks a negative prompt first exactly when the verdict is NOT_CAR. (As many
    negatives as names, so that a random model picks either side.)"""
    template = Settings(_env_file=None).zero_shot_prompt
    toys = (
        entry_prompt(template, e).replace("type of car", "type of toy") for e in seed_entries()[::3]
    )
    negatives = (*NEGATIVE_PROMPTS, *toys)
    zs_settings = make_settings(
        recognizer="zero-shot",
        zero_shot_model=str(tiny_clip),
        precision="fp32",
        zero_shot_negatives="|".join(negatives),
    )
    classify = pipeline("zero-shot-image-classification", model=str(tiny_clip))
    verdicts = []
    with TestClient(create_app(zs_settings)) as client:
        prompts = [
            entry_prompt(zs_settings.zero_shot_prompt, _Entry(e)) for e in enabled_entries(client)
        ]
        for seed in range(4):
            data = noise_png(seed)
            (tmp_path / f"{seed}.png").write_bytes(data)
            file = infer(client, upload(client, data, f"{seed}.png"))
            ranked = classify(
                str(tmp_path / f"{seed}.png"),
                candidate_labels=prompts + list(negatives),
                hypothesis_template="{}",
            )
            negative_first = ranked[0]["label"] in negatives
            assert (file["verdict"] == "NOT_CAR") == negative_first, (seed, ranked[0])
            assert len(file["predictions"]) == zs_settings.top_k  # kept whatever the verdict
            verdicts.append(file["verdict"])
    assert set(verdicts) <= {"CAR", "NOT_CAR", "UNSURE"}


def test_colour_is_named_by_the_colour_prompts(
    zs_settings: Settings, tiny_clip: Path, tmp_path: Path
) -> None:
    classify = pipeline("zero-shot-image-classification", model=str(tiny_clip))
    with TestClient(create_app(zs_settings)) as client:
        recognizer = services(client).recognizer
        for seed in range(3):
            path = tmp_path / f"{seed}.png"
            path.write_bytes(noise_png(seed))
            [found] = portal_run(
                client, lambda p=path: recognizer.recognize([ImageRef(p, "image/png")])
            )
            assert isinstance(found, Recognition)
            assert found.color is not None
            best = classify(
                str(path),
                candidate_labels=[COLOR_PROMPT.format(color=c) for c in COLORS],
                hypothesis_template="{}",
            )[0]
            assert COLOR_PROMPT.format(color=found.color.name) == best["label"]
            assert found.color.confidence == pytest.approx(best["score"], abs=1e-4)


def test_a_catalog_change_reaches_another_replica_without_a_restart(
    zs_settings: Settings,
) -> None:
    """Two servers on one database: one switches off the entry the other just
    named first; the other's next recognition no longer names it, and names a
    newly added entry once it is the only one left."""
    data = noise_png(3)
    with (
        TestClient(create_app(zs_settings)) as editor,
        TestClient(create_app(zs_settings)) as other,
    ):
        first = infer(other, upload(other, data))["predictions"][0]["label"]
        entry = gql(
            editor, "query($s: String) { catalog(search: $s) { nodes { id label } } }", {"s": first}
        )
        [target] = [n for n in entry["data"]["catalog"]["nodes"] if n["label"] == first]
        gql(
            editor,
            "mutation($id: ID!) { updateCatalogEntry(id: $id, changes: {enabled: false}) { errors { code } } }",
            {"id": target["id"]},
        )
        again = infer(other, upload(other, data, "same-pixels-new-file.png"))
        assert first not in [p["label"] for p in again["predictions"]]

        # Only one entry left enabled: the other replica can name nothing else.
        ids = [e["id"] for e in enabled_entries(editor)]
        removed = 0
        for start in range(0, len(ids), 100):
            result = gql(
                editor,
                "mutation($ids: [ID!]!) { removeCatalogEntries(ids: $ids) { removedIds } }",
                {"ids": ids[start : start + 100]},
            )
            removed += len(result["data"]["removeCatalogEntries"]["removedIds"])
        assert removed == len(ids)
        gql(
            editor,
            'mutation { addCatalogEntries(entries: [{make: "Rivian", model: "R1T", bodyType: "Pickup", yearFrom: 2022}]) { errors { code } } }',
        )
        last = infer(other, upload(other, noise_png(4), "after.png"))["predictions"]
        assert [(p["label"], p["make"], p["model"], p["bodyType"], p["year"]) for p in last] == [
            ("Rivian R1T Pickup 2022+", "Rivian", "R1T", "Pickup", None)
        ]


def test_text_embeddings_are_kept_on_disk_and_reused(zs_settings: Settings) -> None:
    with TestClient(create_app(zs_settings)) as client:
        infer(client, upload(client, noise_png(5)))
        texts = services(client).recognizer.classifier._texts  # type: ignore[attr-defined]
        assert texts.computed > 600  # the whole catalog, the negatives, the colours
        assert texts.path.is_file()
    with TestClient(create_app(zs_settings)) as client:  # a restart
        infer(client, upload(client, noise_png(6)))
        assert services(client).recognizer.classifier._texts.computed == 0  # type: ignore[attr-defined]
        gql(
            client,
            'mutation { addCatalogEntries(entries: [{make: "Lucid", model: "Air", yearFrom: 2022}]) { errors { code } } }',
        )
        infer(client, upload(client, noise_png(7)))
        assert services(client).recognizer.classifier._texts.computed == 1  # type: ignore[attr-defined]


def test_a_file_is_named_again_once_the_catalog_changed(zs_settings: Settings) -> None:
    """A file's results hold for the catalog they were named from: asked again
    with no change it keeps them (nothing recomputed), after a change inferFile
    and recognizeFiles (the job path) name it from the new catalog."""
    file_query = "query($id: ID!) { file(id: $id) { status processedAt predictions { label } } }"
    recognize = "mutation($ids: [ID!]!) { recognizeFiles(ids: $ids) { errors { code } } }"

    def switch_off(client: TestClient, label: str) -> None:
        found = gql(
            client, "query($s: String) { catalog(search: $s) { nodes { id label } } }", {"s": label}
        )
        [target] = [n for n in found["data"]["catalog"]["nodes"] if n["label"] == label]
        gql(
            client,
            "mutation($id: ID!) { updateCatalogEntry(id: $id, changes: {enabled: false}) { errors { code } } }",
            {"id": target["id"]},
        )

    def stored(client: TestClient, file_id: int) -> dict[str, Any]:
        file: dict[str, Any] = gql(client, file_query, {"id": str(file_id)})["data"]["file"]
        return file

    with TestClient(create_app(zs_settings)) as client:
        file_id = upload(client, noise_png(8))
        infer(client, file_id)
        first = stored(client, file_id)
        infer(client, file_id)
        gql(client, recognize, {"ids": [str(file_id)]})
        assert stored(client, file_id) == first  # this catalog's results: kept

        label = first["predictions"][0]["label"]
        switch_off(client, label)
        second = infer(client, file_id)
        assert label not in [p["label"] for p in second["predictions"]]
        renamed = stored(client, file_id)
        assert renamed["processedAt"] != first["processedAt"]

        label = renamed["predictions"][0]["label"]
        switch_off(client, label)
        gql(client, recognize, {"ids": [str(file_id)]})
        deadline = time.monotonic() + 60
        while (now := stored(client, file_id))["processedAt"] == renamed["processedAt"]:
            assert time.monotonic() < deadline, now
            time.sleep(0.05)
        assert now["status"] == "DONE"
        assert label not in [p["label"] for p in now["predictions"]]


def test_each_vehicle_is_named_from_the_catalog_with_a_detector(
    zs_settings: Settings, tiny_detector: Path
) -> None:
    """With DETECTOR, each vehicle's crop is named by the zero-shot model: its
    predictions carry the catalog entry's own fields, and the file's are the
    main vehicle's, with its verdict and its colour from the colour prompts."""
    settings = zs_settings.model_copy(update={"detector": str(tiny_detector)})
    query = (
        "query($id: ID!) { file(id: $id) { verdict detector color { name }"
        " predictions { label make model bodyType } vehicles { color { name }"
        " predictions { label make model bodyType } } } }"
    )
    with TestClient(create_app(settings)) as client:
        file_id = upload(client, noise_png(9))
        infer(client, file_id)
        file = gql(client, query, {"id": str(file_id)})["data"]["file"]
        entries = {e["label"]: e for e in enabled_entries(client)}
    assert file["detector"] == str(tiny_detector)
    assert file["vehicles"], "the tiny detector finds boxes in any photo"
    assert file["verdict"] in ("CAR", "NOT_CAR", "UNSURE")
    main = file["vehicles"][0]
    assert file["predictions"] == main["predictions"]
    assert file["color"] == main["color"]
    assert main["color"]["name"] in COLORS
    for vehicle in file["vehicles"]:
        for p in vehicle["predictions"]:
            entry = entries[p["label"]]
            assert (p["make"], p["model"], p["bodyType"]) == (
                entry["make"],
                entry["model"],
                entry["bodyType"],
            )


def test_a_strip_stored_before_the_aspect_rule_is_named_from_its_centre_in_bounded_memory(
    tmp_path: Path, database_url: str, tiny_clip: Path
) -> None:
    """CLIP's processor resizes the short side to 224: a 1 x 2000 strip (a
    1 KB JPEG) became a 224 x 448,000 array, 1.2 GB. A file a server stored
    before MAX_ASPECT_RATIO is named from its central 1 x 20 pixels instead."""
    strip = images.jpeg(1, 2000)
    centre = io.BytesIO()
    Image.open(io.BytesIO(strip)).crop((0, 990, 1, 1010)).save(centre, "PNG")
    env = {
        "DATABASE_URL": database_url,
        "RECOGNIZER": "zero-shot",
        "ZERO_SHOT_MODEL": str(tiny_clip),
        "PRECISION": "fp32",
        "HF_HUB_OFFLINE": "1",
    }
    # An older server, with no rule on the shape, took the strip in.
    with server(tmp_path, MAX_ASPECT_RATIO="1000000", **env) as old:
        strip_id = live_upload(old, "strip.jpg", strip)
    with server(tmp_path, **env) as live:
        centre_id = live_upload(live, "centre.png", centre.getvalue())
        assert httpx.post(f"{live.url}/inference/{centre_id}", timeout=120).status_code == 200
        idle = rss_mb(live.pid)
        with Sampler(live.pid) as sampler:
            answer = httpx.post(f"{live.url}/inference/{strip_id}", timeout=120)
        growth = sampler.peak - idle
        centre_answer = httpx.post(f"{live.url}/inference/{centre_id}", timeout=120).json()
    assert answer.status_code == 200, answer.text
    assert growth < 300, f"memory rose {growth:.0f} MB"  # unbounded: 1,200 MB
    assert answer.json()["status"] == "done"
    named = [(p["label"], p["confidence"]) for p in answer.json()["predictions"]]
    assert len(named) == 5
    assert named == [(p["label"], p["confidence"]) for p in centre_answer["predictions"]]


def live_upload(live: LiveServer, name: str, data: bytes) -> int:
    response = httpx.post(f"{live.url}/upload/", files={"file": (name, data)}, timeout=60)
    assert response.status_code == 200, response.text
    return int(response.json()["files"][0]["id"])
