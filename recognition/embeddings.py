"""Text embeddings of prompts, computed once per model and kept.

In memory, a prompt's embedding is found by its text; on disk, one file per
model and precision (MODEL_CACHE_DIR/zero-shot/<hash>.pt) maps each prompt's
sha256 to its embedding, so a restart, or a new replica sharing the folder,
embeds nothing it has seen. A changed catalog embeds only its new prompts.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

log = logging.getLogger("cars.recognizer")


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


class TextEmbeddings:
    def __init__(
        self,
        cache_dir: Path,
        *,
        model_id: str,
        precision: str,
        encode: Callable[[list[str]], torch.Tensor],
    ) -> None:
        name = hashlib.sha256(f"{model_id}\n{precision}".encode()).hexdigest()[:24]
        self.path = cache_dir / "zero-shot" / f"{name}.pt"
        self._encode = encode
        self._known: dict[str, torch.Tensor] = {}
        self._dirty = False
        self.computed = 0  # prompts embedded by this process (for tests and logs)
        self._read()

    def matrix(self, prompts: list[str]) -> torch.Tensor:
        """One unit row per prompt, in order; embeds only unknown prompts."""
        keys = [prompt_key(p) for p in prompts]
        unknown = (p for p, k in zip(prompts, keys, strict=True) if k not in self._known)
        missing = list(dict.fromkeys(unknown))
        if missing:
            for prompt, row in zip(missing, self._encode(missing), strict=True):
                self._known[prompt_key(prompt)] = row.clone()
            self.computed += len(missing)
            self._dirty = True
        if not keys:
            return torch.empty(0, 0)
        return torch.stack([self._known[k] for k in keys])

    def save(self) -> None:
        """Write the embeddings known so far, atomically (other processes may
        read the file at the same time)."""
        if not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = list(self._known)
            partial = self.path.with_suffix(f".{os.getpid()}.tmp")
            torch.save({"keys": keys, "rows": torch.stack([self._known[k] for k in keys])}, partial)
            os.replace(partial, self.path)
            self._dirty = False
        except OSError as exc:  # a read-only cache folder only costs time
            log.warning("could not keep text embeddings in %s: %s", self.path, exc)

    def _read(self) -> None:
        try:
            saved = torch.load(self.path, weights_only=True)
        except FileNotFoundError:
            return
        except Exception as exc:  # a torn or foreign file: embed again
            log.warning("ignoring text embeddings in %s: %s", self.path, exc)
            return
        for key, row in zip(saved["keys"], saved["rows"], strict=True):
            self._known[key] = row
