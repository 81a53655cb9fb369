"""Several vehicles per photo: a real (tiny, random-weight) YOLOS detector finds
them, each is classified on its own crop, and the file's predictions stay those
of the largest. Its random boxes are whatever the transformers object-detection
pipeline finds in the same folder: the pipeline is the reference."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import event
from starlette.testclient import TestClient
from transformers import pipeline

from config import Settings
from recognition.base import Box, ImageRef
from recognition.color import pixel_color
from recognition.vehicles import VehicleRecognizer
from resolvers.files import get_file
from server import create_app
from storage.objects import image_key
from testkit.models import save_yolos
from tests import images
from tests.car_images import PAINTS, car, encoded
from tests.fake_hf import FakeHuggingFace
from tests.helpers import gql, portal_run, services

KINDS = {"car", "truck", "bus", "motorcycle"}

FILE = """
query($id: ID!) {
  file(id: $id) {
    status detector
    color { name confidence }
    predictions { rank label confidence }
    vehicles {
      box { x y width height } score kind
      predictions { rank label confidence make year }
      color { name confidence }
    }
  }
}
"""


@pytest.fixture
def make_vehicle_settings(
    make_settings: Callable[..., Settings], tiny_model: Path, tiny_detector: Path
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "hf_model": str(tiny_model),
            "detector": str(tiny_detector),
            # fp32 torch: the pipelines' own arithmetic, so results compare exactly
            "runtime": "torch",
            "precision": "fp32",
            "detector_threshold": 0.6,
        }
        return make_settings(**{**values, **overrides})

    return make


def photo(seed: int = 0) -> Image.Image:
    return car(PAINTS["red"], width=480, height=320, noise=8, shade=0.8, seed=seed)


def upload(client: TestClient, image: Image.Image, name: str = "street.png") -> int:
    data = encoded(image)
    response = client.post("/upload/", files={"file": (name, data, "image/png")})
    assert response.status_code == 200, response.text
    return int(response.json()["files"][0]["id"])


def expected_vehicles(
    detector: Path, image: Image.Image, *, threshold: float, most: int = 10
) -> list[dict[str, Any]]:
    """What the transformers pipeline finds, vehicles only, the most confident
    `most`, clipped to the photo, largest first."""
    found = pipeline("object-detection", model=str(detector))(image, threshold=threshold)
    vehicles = sorted((d for d in found if d["label"] in KINDS), key=lambda d: -d["score"])
    boxes = []
    for d in vehicles[:most]:
        b = d["box"]
        x0, y0 = max(0, b["xmin"]), max(0, b["ymin"])
        x1, y1 = min(image.width, b["xmax"]), min(image.height, b["ymax"])
        boxes.append({"kind": d["label"], "score": d["score"], "box": (x0, y0, x1 - x0, y1 - y0)})
    return sorted(boxes, key=lambda v: -(v["box"][2] * v["box"][3]))


def classify(model: Path, image: Image.Image) -> list[tuple[str, float]]:
    out = pipeline("image-classification", model=str(model))(image, top_k=5)
    return [(g["label"], g["score"]) for g in out]


def close_box(got: dict[str, int], want: tuple[int, int, int, int]) -> bool:
    # The pipeline truncates corners to ints; the server floors the top-left
    # and ceils the bottom-right, so that the crop holds the whole box.
    mine = (got["x"], got["y"], got["width"], got["height"])
    return all(abs(a - b) <= 2 for a, b in zip(mine, want, strict=True))


def crop(image: Image.Image, box: dict[str, int]) -> Image.Image:
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    return image.crop((x, y, x + w, y + h))


def test_each_vehicle_is_found_cropped_and_classified_on_its_own(
    make_vehicle_settings: Callable[..., Settings], tiny_model: Path, tiny_detector: Path
) -> None:
    image = photo()
    want = expected_vehicles(tiny_detector, image, threshold=0.6)
    assert len(want) >= 3  # the tiny detector finds several vehicles in this photo
    with TestClient(create_app(make_vehicle_settings())) as client:
        file_id = upload(client, image)
        rest = client.post(f"/inference/{file_id}")
        assert rest.status_code == 200, rest.text
        file = gql(client, FILE, {"id": str(file_id)})["data"]["file"]
        listed = client.get(f"/files/{file_id}").json()
    vehicles = file["vehicles"]
    assert file["detector"] == str(tiny_detector)
    assert [v["kind"] for v in vehicles] == [w["kind"].upper() for w in want]
    for got, expected in zip(vehicles, want, strict=True):
        assert close_box(got["box"], expected["box"]), (got["box"], expected["box"])
        assert got["score"] == pytest.approx(expected["score"], abs=1e-4)
        # Classifying a vehicle is classifying its crop.
        direct = classify(tiny_model, crop(image, got["box"]))
        assert [p["label"] for p in got["predictions"]] == [label for label, _ in direct]
        for p, (_, score) in zip(got["predictions"], direct, strict=True):
            assert p["confidence"] == pytest.approx(score, abs=1e-4)
        assert [p["rank"] for p in got["predictions"]] == [1, 2, 3, 4, 5]
        assert got["predictions"][0]["make"]
        assert got["predictions"][0]["year"]
        assert got["color"] == _color(crop(image, got["box"]))
    areas = [v["box"]["width"] * v["box"]["height"] for v in vehicles]
    assert areas == sorted(areas, reverse=True)  # the main vehicle, the largest, first
    main = vehicles[0]
    # The file's own predictions and colour are the main vehicle's, in every API.
    assert [(p["label"], p["confidence"]) for p in file["predictions"]] == [
        (p["label"], p["confidence"]) for p in main["predictions"]
    ]
    assert file["color"] == main["color"]
    assert [p["label"] for p in rest.json()["predictions"]] == [
        p["label"] for p in main["predictions"]
    ]
    # REST keeps its shapes: the same keys as ever, no vehicles.
    assert set(rest.json()) == {
        "id",
        "filename",
        "predictions",
        "status",
        "model_id",
        "backend",
        "inference_ms",
    }
    assert set(rest.json()["predictions"][0]) == {
        "label",
        "confidence",
        "make",
        "model",
        "body_type",
        "year",
    }
    assert listed["results"] == rest.json()["predictions"]


def rounded(value: Any) -> Any:
    """`value` with every float rounded to 4 places, for comparing recomputations."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def _color(image: Image.Image) -> dict[str, Any]:
    guess = pixel_color(image)
    return {"name": guess.name, "confidence": guess.confidence}


def test_threshold_and_maximum_choose_which_vehicles_count(
    make_vehicle_settings: Callable[..., Settings], tiny_detector: Path
) -> None:
    for seed, (threshold, most) in enumerate(((0.85, 10), (0.6, 2))):
        image = photo(seed)  # other bytes: a photo already seen reuses its results
        want = expected_vehicles(tiny_detector, image, threshold=threshold, most=most)
        assert want
        settings = make_vehicle_settings(detector_threshold=threshold, detector_max_vehicles=most)
        with TestClient(create_app(settings)) as client:
            file_id = upload(client, image)
            assert client.post(f"/inference/{file_id}").status_code == 200
            vehicles = gql(client, FILE, {"id": str(file_id)})["data"]["file"]["vehicles"]
        assert len(vehicles) == len(want) <= most
        for got, expected in zip(vehicles, want, strict=True):
            assert got["score"] >= threshold
            assert close_box(got["box"], expected["box"])


def test_with_no_vehicle_found_the_whole_photo_is_classified(
    make_vehicle_settings: Callable[..., Settings], tiny_model: Path, tiny_detector: Path
) -> None:
    image = photo()
    assert expected_vehicles(tiny_detector, image, threshold=0.999) == []
    with TestClient(create_app(make_vehicle_settings(detector_threshold=0.999))) as client:
        file_id = upload(client, image)
        assert client.post(f"/inference/{file_id}").status_code == 200
        file = gql(client, FILE, {"id": str(file_id)})["data"]["file"]
    assert file["vehicles"] == []
    assert file["detector"] == str(tiny_detector)  # it looked, and found nothing
    whole = classify(tiny_model, image)
    assert [p["label"] for p in file["predictions"]] == [label for label, _ in whole]
    assert file["color"] == _color(image)


def test_without_a_detector_the_photo_gets_a_colour_and_no_vehicles(
    make_vehicle_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_vehicle_settings(detector=None))) as client:
        file_id = upload(client, car(PAINTS["blue"], noise=10, shade=0.8), "blue.png")
        assert client.post(f"/inference/{file_id}").status_code == 200
        file = gql(client, FILE, {"id": str(file_id)})["data"]["file"]
    assert (file["vehicles"], file["detector"]) == ([], None)
    assert file["color"]["name"] == "blue"
    assert 0 < file["color"]["confidence"] <= 1


def test_reprocess_clears_vehicles_and_the_same_bytes_reuse_them(
    make_vehicle_settings: Callable[..., Settings],
) -> None:
    image = photo()
    with TestClient(create_app(make_vehicle_settings())) as client:
        first = upload(client, image, "a.png")
        assert client.post(f"/inference/{first}").status_code == 200
        before = gql(client, FILE, {"id": str(first)})["data"]["file"]
        assert before["vehicles"]
        reset = gql(
            client,
            "mutation($id: ID!) { reprocessFile(id: $id) { file { status color { name } vehicles { kind } } } }",
            {"id": str(first)},
        )["data"]["reprocessFile"]["file"]
        assert reset == {"status": "PENDING", "color": None, "vehicles": []}
        # Recognized again, over GraphQL this time: the same vehicles.
        again = gql(
            client,
            "mutation($id: ID!) { inferFile(id: $id) { errors { code } file { status detector "
            "color { name confidence } predictions { rank label confidence } vehicles { "
            "box { x y width height } score kind predictions { rank label confidence make year } "
            "color { name confidence } } } } }",
            {"id": str(first)},
        )["data"]["inferFile"]
        # (Equal up to float noise: the crops may be batched differently this time.)
        assert rounded(again) == rounded({"errors": [], "file": before})
        # Another file with the same bytes takes the stored results, vehicles included.
        second = upload(client, image, "b.png")
        assert client.post(f"/inference/{second}").status_code == 200
        # The stored results are the recomputation's, so the second file is
        # compared with the first as it is now, exactly (`before` differs from
        # them by float noise).
        now = gql(client, FILE, {"id": str(first)})["data"]["file"]
        assert gql(client, FILE, {"id": str(second)})["data"]["file"] == now
        assert rounded(now) == rounded(before)


def test_a_page_with_vehicles_costs_a_fixed_number_of_queries(
    make_vehicle_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_vehicle_settings())) as client:
        for i in range(4):
            image = car(list(PAINTS.values())[i], width=480, height=320, noise=8, seed=i)
            file_id = upload(client, image, f"{i}.png")
            assert client.post(f"/inference/{file_id}").status_code == 200
        statements: list[str] = []
        engine = services(client).engine.sync_engine

        def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            result = gql(
                client,
                "{ files(first: 10) { nodes { color { name } predictions { label } "
                "vehicles { kind box { x } predictions { label } color { name } } } } }",
            )
        finally:
            event.remove(engine, "before_cursor_execute", count)
    nodes = result["data"]["files"]["nodes"]
    assert len(nodes) == 4
    assert all(n["vehicles"] for n in nodes)
    # the page, the predictions, the vehicles and their predictions
    assert len(statements) == 4, statements


def test_a_jpeg_is_decoded_at_reduced_size_and_boxes_are_in_full_size_pixels(
    make_vehicle_settings: Callable[..., Settings],
) -> None:
    big = car(PAINTS["white"], width=1920, height=1280, noise=6, seed=4)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=92)
    with TestClient(create_app(make_vehicle_settings(detector_threshold=0.5))) as client:
        response = client.post(
            "/upload/", files={"file": ("big.jpg", out.getvalue(), "image/jpeg")}
        )
        file_id = response.json()["files"][0]["id"]
        assert client.post(f"/inference/{file_id}").status_code == 200
        file = gql(client, FILE, {"id": str(file_id)})["data"]["file"]
        svc = services(client)
        row = portal_run(client, lambda: get_file(svc, file_id))
        path = svc.settings.upload_dir / image_key(row.sha256)  # the local object store
        vehicles = file["vehicles"]
        assert vehicles
        # Each vehicle's guesses are those of its region read straight from the
        # file, although the photo was decoded once, at 1/8 scale (240 x 160),
        # for the detector: regions too small there are decoded again.
        recognizer = svc.recognizer
        assert isinstance(recognizer, VehicleRecognizer)
        regions = [ImageRef(path, "image/jpeg", box=Box(**vehicle["box"])) for vehicle in vehicles]
        direct = portal_run(client, lambda: recognizer.classifier.recognize(regions))
    for vehicle, outcome in zip(vehicles, direct, strict=True):
        box = vehicle["box"]
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 1920
        assert box["y"] >= 0
        assert box["y"] + box["height"] <= 1280
        assert [p["label"] for p in vehicle["predictions"]] == [g.label for g in outcome.guesses]
        for p, g in zip(vehicle["predictions"], outcome.guesses, strict=True):
            assert p["confidence"] == pytest.approx(g.score, abs=1e-5)
    # At least one box reaches past the reduced decode's own size.
    assert max(v["box"]["x"] + v["box"]["width"] for v in vehicles) > 960


def test_the_remote_backend_gets_each_vehicle_as_a_jpeg_of_its_own(
    make_hf_settings: Callable[..., Settings], fake_hf: FakeHuggingFace, tiny_detector: Path
) -> None:
    image = photo()
    want = expected_vehicles(tiny_detector, image, threshold=0.6)
    settings = make_hf_settings(
        detector=str(tiny_detector), detector_threshold=0.6, precision="fp32"
    )
    with TestClient(create_app(settings)) as client:
        file_id = upload(client, image)
        assert client.post(f"/inference/{file_id}").status_code == 200
        file = gql(client, FILE, {"id": str(file_id)})["data"]["file"]
    assert len(file["vehicles"]) == len(want) == len(fake_hf.requests)
    sent = sorted(
        Image.open(io.BytesIO(base64.b64decode(r.body["inputs"]))).size for r in fake_hf.requests
    )
    boxes = sorted((v["box"]["width"], v["box"]["height"]) for v in file["vehicles"])
    assert sent == boxes  # each crop at the photo's own resolution
    assert all(v["predictions"][0]["label"] == "BMW M3 Coupe 2012" for v in file["vehicles"])
    assert file["predictions"][0]["label"] == "BMW M3 Coupe 2012"


@pytest.mark.parametrize("problem", ["missing", "no vehicle classes"])
def test_a_detector_that_cannot_be_used_says_so_and_the_file_stays_pending(
    make_vehicle_settings: Callable[..., Settings], tmp_path: Path, problem: str
) -> None:
    detector = str(tmp_path / "nothing-here")
    if problem == "no vehicle classes":  # a detector of people and bicycles only
        save_yolos(tmp_path / "nothing-here", labels=("N/A", "person", "bicycle"))
    settings = make_vehicle_settings(detector=detector, preload_model=True)
    with TestClient(create_app(settings)) as client:
        health = client.get("/health").json()["recognizer"]
        assert health["ready"] is False
        assert detector in health["detail"]
        file_id = upload(client, photo())
        response = client.post(f"/inference/{file_id}")
        assert response.status_code == 503
        assert "DETECTOR" in response.json()["detail"]
        assert detector in response.json()["detail"]
        if problem == "no vehicle classes":
            assert "detects none of bus, car, motorbike, motorcycle, truck" in health["detail"]
        assert client.get(f"/files/{file_id}").json()["status"] == "pending"


def test_boxes_of_a_photo_taken_sideways_are_in_its_upright_pixels(
    make_vehicle_settings: Callable[..., Settings],
) -> None:
    # Stored 640 x 480 with EXIF orientation 6: displayed 480 wide, 640 high.
    data = images.jpeg(640, 480, color=(30, 60, 170), orientation=6)
    with TestClient(create_app(make_vehicle_settings(detector_threshold=0.5))) as client:
        response = client.post("/upload/", files={"file": ("side.jpg", data, "image/jpeg")})
        meta = response.json()["files"][0]
        assert (meta["width"], meta["height"]) == (480, 640)
        assert client.post(f"/inference/{meta['id']}").status_code == 200
        vehicles = gql(client, FILE, {"id": str(meta["id"])})["data"]["file"]["vehicles"]
    assert vehicles
    for vehicle in vehicles:
        box = vehicle["box"]
        assert box["x"] + box["width"] <= 480
        assert box["y"] + box["height"] <= 640
    # The detector saw the photo upright: its tallest box reaches below 480.
    assert max(v["box"]["y"] + v["box"]["height"] for v in vehicles) > 480


def test_a_strip_stored_before_the_aspect_rule_is_recognized_not_failed(
    make_vehicle_settings: Callable[..., Settings],
) -> None:
    """YOLOS's processor fits the long side into 192 pixels: a 1 x 4000 strip
    came out 0 pixels wide, and the file ended failed with transformers' own
    words (502). Its central pixels are what the detector sees now."""
    strip = images.jpeg(1, 4000)
    # An older server, with no rule on the shape, took the strip in.
    with TestClient(create_app(make_vehicle_settings(max_aspect_ratio=1e6))) as old:
        response = old.post("/upload/", files={"file": ("strip.jpg", strip, "image/jpeg")})
        file_id = response.json()["files"][0]["id"]
    with TestClient(create_app(make_vehicle_settings())) as client:
        answer = client.post(f"/inference/{file_id}")
        assert answer.status_code == 200, answer.text
        file = gql(client, FILE, {"id": str(file_id)})["data"]["file"]
    assert file["status"] == "DONE"
    assert file["vehicles"] == []  # no box of 8 pixels fits in a 1-pixel strip
    assert len(file["predictions"]) == 5


def test_boxes_in_a_panorama_stored_before_the_aspect_rule_are_in_its_own_pixels(
    make_vehicle_settings: Callable[..., Settings], tiny_detector: Path
) -> None:
    # 9600 x 320 (30:1). The tiny detector fits the long side into 192 pixels,
    # so that a short side keeps 32 it sees at most 6:1: the central 1920 x 320,
    # from x = 3840, where the photo of a car is. (DETR's 1333 take 20:1.)
    panorama = Image.new("RGB", (9600, 320), (90, 120, 90))
    panorama.paste(photo(), (4560, 0))
    seen = panorama.crop((3840, 0, 5760, 320))
    want = expected_vehicles(tiny_detector, seen, threshold=0.5)
    assert want  # or the comparison proves nothing
    with TestClient(create_app(make_vehicle_settings(max_aspect_ratio=1e6))) as old:
        file_id = upload(old, panorama)
    with TestClient(create_app(make_vehicle_settings(detector_threshold=0.5))) as client:
        assert client.post(f"/inference/{file_id}").status_code == 200
        vehicles = gql(client, FILE, {"id": str(file_id)})["data"]["file"]["vehicles"]
    assert len(vehicles) == len(want)
    for got, expected in zip(vehicles, want, strict=True):
        x, y, width, height = expected["box"]
        assert close_box(got["box"], (x + 3840, y, width, height)), (got["box"], expected["box"])


def test_a_thin_box_is_classified_on_its_central_part_within_the_ratio(
    make_vehicle_settings: Callable[..., Settings],
) -> None:
    # A detector's box may be 8 x 800 in a photo of any shape: the classifier
    # reads its central 8 x 160, as it reads a stored strip.
    with TestClient(create_app(make_vehicle_settings(detector=None))) as client:
        image = car(PAINTS["blue"], width=600, height=800, noise=8, seed=2)
        file_id = upload(client, image)
        svc = services(client)
        row = portal_run(client, lambda: get_file(svc, file_id))
        path = svc.settings.upload_dir / image_key(row.sha256)
        thin, centre = Box(300, 0, 8, 800), Box(300, 320, 8, 160)
        refs = [ImageRef(path, "image/png", box=thin), ImageRef(path, "image/png", box=centre)]
        recognizer = svc.recognizer
        assert isinstance(recognizer, VehicleRecognizer)
        outcomes = portal_run(client, lambda: recognizer.classifier.recognize(refs))
    thin_guesses, centre_guesses = ([(g.label, g.score) for g in o.guesses] for o in outcomes)
    assert thin_guesses == centre_guesses
