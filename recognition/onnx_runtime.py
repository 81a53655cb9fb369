"""Running a transformers image classifier with ONNX Runtime.

Measured on this project's CPU (ViT-B/16, scripts/bench recognition), ONNX
Runtime runs fp32 about 2.5x faster than torch and its int8 about 1.7x faster
than torch's bf16. The model is exported once, at load time, into a cache keyed
by the weights themselves, so a changed model folder is never served stale.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch


class OnnxClassifier:
    def __init__(self, model: Any, *, cache: Path, precision: str, threads: int) -> None:
        import onnxruntime as ort

        path = _exported(model, cache, precision)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # batches run one at a time anyway
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def logits(self, pixel_values: torch.Tensor) -> torch.Tensor:
        (out,) = self._session.run(["logits"], {"pixel_values": pixel_values.numpy()})
        return torch.from_numpy(np.asarray(out))


def _exported(model: Any, cache: Path, precision: str) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    key = _fingerprint(model)
    fp32 = cache / f"{key}-fp32.onnx"
    if not fp32.exists():
        _atomic(fp32, lambda tmp: _export(model, tmp))
    if precision == "fp32":
        return fp32
    int8 = cache / f"{key}-int8.onnx"
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Linear layers' weights in int8, activations quantized on the fly.
        _atomic(int8, lambda tmp: quantize_dynamic(fp32, tmp, weight_type=QuantType.QInt8))
    return int8


def _export(model: Any, path: Path) -> None:
    size = int(getattr(model.config, "image_size", 224))
    example = torch.zeros(1, getattr(model.config, "num_channels", 3), size, size)
    with warnings.catch_warnings():
        # The TorchScript exporter warns that it is legacy, and that shape checks
        # inside the model are frozen while tracing: inputs are always resized to
        # `size`, so they hold. The newer exporter needs onnxscript and is slower.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.float().eval(),
            (example,),
            str(path),
            input_names=["pixel_values"],
            output_names=["logits"],
            dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def _fingerprint(model: Any) -> str:
    digest = hashlib.sha256(model.config.to_json_string().encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        # The array's own buffer: hashing 344 MB of ViT-B weights copies nothing.
        digest.update(np.ascontiguousarray(tensor.detach().cpu().numpy()).data)
    return digest.hexdigest()[:24]


def _atomic(dest: Path, write: Any) -> None:
    """Write through a temporary name: a crash never leaves half a model."""
    tmp = dest.with_name(f".{uuid.uuid4().hex}.onnx")
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
