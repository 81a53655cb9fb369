"""The local recognizer, driven through the real operations over HTTP."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient
from transformers import pipeline

from config import Settings
from db.models import FileStatus
from server import create_app
from tests import images
from tests.helpers import gql, set_status, upload_bytes

AGREEING_IMAGES = {
    "rgba.png": images.png(300, 200),
    "small.jpg": images.jpeg(300, 200),
    "rotated.jpg": images.jpeg(320, 200, orientation=6),
    "grey.png": images.png(180, 240, mode="L"),
}


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_top_k_agrees_with_the_transformers_pipeline(
    local_settings: Settings, tiny_model: Path, tmp_path: Path, runtime: str
) -> None:
    reference = pipeline("image-classification", model=str(tiny_model))
    fp32 = local_settings.model_copy(update={"precision": "fp32", "runtime": runtime})
    with TestClient(create_app(fp32)) as client:  # the pipeline's arithmetic, in either runtime
        for name, data in AGREEING_IMAGES.items():
            file_id = upload_bytes(client, name, data)
            ours = client.post(f"/inference/{file_id}").json()["predictions"]
            (tmp_path / name).write_bytes(data)
            theirs = reference(str(tmp_path / name), top_k=5)
            assert [p["label"] for p in ours] == [t["label"] for t in theirs], name
            for p, t in zip(ours, theirs, strict=True):
                assert p["confidence"] == pytest.approx(t["score"], abs=1e-4), name


def test_a_large_jpeg_is_decoded_at_reduced_size_and_still_agrees(
    local_settings: Settings, tiny_model: Path, tmp_path: Path
) -> None:
    data = images.jpeg(4000, 3000)
    with Image.open(io.BytesIO(data)) as img:  # draft really does shrink this one
        img.draft("RGB", (224, 224))
        assert img.size == (500, 375)
    reference = pipeline("image-classification", model=str(tiny_model))
    fp32 = local_settings.model_copy(update={"precision": "fp32", "runtime": "torch"})
    with TestClient(create_app(fp32)) as client:
        ours = client.post(f"/inference/{upload_bytes(client, 'big.jpg', data)}").json()[
            "predictions"
        ]
    (tmp_path / "big.jpg").write_bytes(data)
    theirs = reference(str(tmp_path / "big.jpg"), top_k=5)
    assert ours[0]["label"] == theirs[0]["label"]
    assert ours[0]["confidence"] == pytest.approx(theirs[0]["score"], abs=0.02)


@pytest.mark.parametrize(
    "model", ["not-a-model-folder", "therealcyberlord/stanford-car-vit-patch16"]
)
def test_a_model_that_cannot_load_leaves_the_server_serving(
    make_settings: Callable[..., Settings], tmp_path: Path, model: str
) -> None:
    if model == "not-a-model-folder":
        (tmp_path / model).mkdir()
        (tmp_path / model / "config.json").write_text("{not json")
        model = str(tmp_path / model)
    with TestClient(create_app(make_settings(hf_model=model))) as client:
        file_id = upload_bytes(client, "car.jpg", images.jpeg())
        response = client.post(f"/inference/{file_id}")
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert model in detail
        assert "HF_MODEL" in detail
        assert "RECOGNIZER=huggingface" in detail
        assert client.get(f"/files/{file_id}").json()["status"] == "pending"  # nothing lost
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["recognizer"]["ok"] is False
        assert model in health.json()["recognizer"]["detail"]
        result = gql(
            client,
            "mutation($id: ID!) { inferFile(id: $id) { errors { code message } } }",
            {"id": str(file_id)},
        )
        [error] = result["data"]["inferFile"]["errors"]
        assert error["code"] == "RECOGNIZER_UNAVAILABLE"
        assert "HF_MODEL" in error["message"]
        # everything else still works
        assert upload_bytes(client, "other.jpg", images.jpeg(color=(1, 2, 3))) > file_id
        assert len(client.get("/files/").json()) == 2


def test_preload_loads_the_model_at_start_up(local_settings: Settings, tmp_path: Path) -> None:
    lazy = TestClient(create_app(local_settings))
    with lazy as client:
        assert client.get("/health").json()["recognizer"]["ready"] is False
    preloaded = local_settings.model_copy(
        update={"preload_model": True, "upload_dir": tmp_path / "other"}
    )
    with TestClient(create_app(preloaded)) as client:
        assert client.get("/health").json()["recognizer"]["ready"] is True


def test_reprocess_clears_results_and_inference_runs_again(local_settings: Settings) -> None:
    with TestClient(create_app(local_settings)) as client:
        file_id = upload_bytes(client, "car.jpg", images.jpeg())
        first = client.post(f"/inference/{file_id}").json()["predictions"]
        reset = client.post(f"/files/{file_id}/reprocess").json()
        assert (reset["status"], reset["processed"], reset["results"]) == ("pending", False, None)
        again = client.post(f"/inference/{file_id}").json()["predictions"]
        assert again == first


def test_a_file_left_processing_by_a_crash_is_pending_after_restart(
    local_settings: Settings,
) -> None:
    with TestClient(create_app(local_settings)) as client:
        file_id = upload_bytes(client, "car.jpg", images.jpeg())
        set_status(client, file_id, FileStatus.PROCESSING)  # as a crash would leave it
        assert client.get(f"/files/{file_id}").json()["status"] == "processing"
    with TestClient(create_app(local_settings)) as client:
        assert client.get(f"/files/{file_id}").json()["status"] == "pending"
        assert client.post(f"/inference/{file_id}").status_code == 200


@pytest.mark.parametrize(
    ("runtime", "precision"),
    [("torch", "bf16"), ("torch", "int8"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")],
)
def test_each_engine_agrees_with_torch_fp32(
    make_settings: Callable[..., Settings],
    tiny_model: Path,
    tmp_path: Path,
    runtime: str,
    precision: str,
) -> None:
    data = images.jpeg(300, 200)
    answers = {}
    for engine in (("torch", "fp32"), (runtime, precision)):
        name = "-".join(engine)
        # A database each: the same bytes seen by the same model would reuse the
        # first answer instead of running the model again.
        settings = make_settings(
            hf_model=str(tiny_model),
            runtime=engine[0],
            precision=engine[1],
            upload_dir=tmp_path / name,
            database_url=f"sqlite+aiosqlite:///{tmp_path / name}.db",
        )
        with TestClient(create_app(settings)) as client:
            file_id = upload_bytes(client, "car.jpg", data)
            answers[engine] = client.post(f"/inference/{file_id}").json()["predictions"]
            assert (
                client.get("/health")
                .json()["recognizer"]["detail"]
                .endswith(f"({engine[0]} {engine[1]})")
            )
    exact, other = answers[("torch", "fp32")], answers[(runtime, precision)]
    assert other[0]["label"] == exact[0]["label"]
    theirs = {p["label"]: p["confidence"] for p in other}
    tolerance = 1e-4 if precision == "fp32" else 0.05  # fp32 in another runtime: the same numbers
    for p in exact:
        assert abs(p["confidence"] - theirs.get(p["label"], 0.0)) <= tolerance


def test_onnx_exports_are_cached_by_the_weights(
    make_settings: Callable[..., Settings], tiny_model: Path, tmp_path: Path
) -> None:
    settings = make_settings(hf_model=str(tiny_model), runtime="onnxruntime", precision="int8")
    for _ in range(2):
        with TestClient(create_app(settings)) as client:
            assert (
                client.post(
                    f"/inference/{upload_bytes(client, 'a.jpg', images.jpeg())}"
                ).status_code
                == 200
            )
    cached = sorted(
        p.name.split("-", 1)[1] for p in settings.resolved_model_cache_dir.glob("*.onnx")
    )
    assert cached == ["fp32.onnx", "int8.onnx"]  # exported once, not once per start


def test_auto_picks_the_engine_from_what_is_installed_and_the_cpu() -> None:
    from recognition.local import native_bf16, resolve_engine

    assert resolve_engine("auto", "auto") == (
        ("torch", "bf16") if native_bf16() else ("onnxruntime", "fp32")
    )
    assert resolve_engine("auto", "fp32") == ("onnxruntime", "fp32")
    assert resolve_engine("auto", "bf16") == ("torch", "bf16")
    assert resolve_engine("torch", "auto") == ("torch", "bf16" if native_bf16() else "fp32")
    assert resolve_engine("onnxruntime", "int8") == ("onnxruntime", "int8")


def test_bf16_on_onnxruntime_is_refused_at_start() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="bf16 needs RUNTIME=torch"):
        Settings(_env_file=None, runtime="onnxruntime", precision="bf16")
