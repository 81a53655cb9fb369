"""Verdicts of the classifier backends: the real-weights EfficientNet vehicle
gate on real non-car photos (scikit-image's), and the unsure threshold."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data
from starlette.testclient import TestClient

from config import Settings
from recognition.base import ImageRef
from recognition.gate import VehicleGate
from server import create_app
from tests.helpers import gql

# Real photos with no car in them (a cat, a camera man, coffee, an astronaut,
# a rocket, a horse, text) and one vehicle that is not a car (a motorcycle).
NOT_CARS = ("chelsea", "camera", "coffee", "astronaut", "rocket", "horse", "page")


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def test_the_gate_scores_real_non_car_photos_far_below_its_threshold(tmp_path: Path) -> None:
    gate = VehicleGate(max_ratio=20)
    threshold = Settings(_env_file=None).vehicle_gate_threshold
    for name in (*NOT_CARS, "stereo_motorcycle"):
        image = getattr(data, name)()
        path = tmp_path / f"{name}.png"
        path.write_bytes(png(image[0] if isinstance(image, tuple) else image))
        [vehicle] = gate.vehicle_probability(gate.pixels(ImageRef(path, "image/png")))
        assert vehicle < threshold / 2, name
    gate.close()


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_a_cat_is_done_as_not_a_car_with_its_guesses_kept(
    make_settings: Callable[..., Settings], tiny_model: Path, name: str
) -> None:
    settings = make_settings(hf_model=str(tiny_model), vehicle_gate="efficientnet")
    with TestClient(create_app(settings)) as client:
        uploaded = client.post(
            "/upload/", files={"file": (f"{name}.png", png(getattr(data, name)()), "image/png")}
        ).json()["files"][0]
        rest = client.post(f"/inference/{uploaded['id']}").json()
        assert rest["status"] == "done"  # REST keeps its shape: predictions as before
        assert len(rest["predictions"]) == settings.top_k
        file = gql(client, "{ files { nodes { verdict status predictions { rank } } } }")
        [node] = file["data"]["files"]["nodes"]
        assert (node["status"], node["verdict"]) == ("DONE", "NOT_CAR")
        assert len(node["predictions"]) == settings.top_k


def test_a_low_top1_confidence_is_unsure(
    make_settings: Callable[..., Settings], tiny_model: Path
) -> None:
    coffee = getattr(data, "coffee")()  # noqa: B009  (skimage's loaders are untyped)
    for threshold, verdict in ((1.0, "UNSURE"), (0.0, "CAR")):
        settings = make_settings(hf_model=str(tiny_model), unsure_below=threshold)
        with TestClient(create_app(settings)) as client:
            uploaded = client.post(
                "/upload/", files={"file": ("a.png", png(coffee), "image/png")}
            ).json()["files"][0]
            result = gql(
                client,
                "mutation($id: ID!) { inferFile(id: $id) { file { verdict } } }",
                {"id": str(uploaded["id"])},
            )
            assert result["data"]["inferFile"]["file"]["verdict"] == verdict
            client.delete(f"/files/{uploaded['id']}")
