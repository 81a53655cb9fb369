"""Picking the backend that RECOGNIZER names."""

from __future__ import annotations

from config import Settings
from recognition.base import Recognizer
from recognition.prompts import CatalogSource, FixedCatalog
from storage.decode_pool import DecodePool


def create_recognizer(
    settings: Settings, decoder: DecodePool, catalog: CatalogSource | None = None
) -> Recognizer:
    """`decoder`: the server's one decode pool, for backends that decode pixels.
    `catalog`: the names the zero-shot backend chooses from (the stored catalog
    in the server); the other backends ignore it."""
    # Imported here: each backend pulls in heavy libraries (torch, aiohttp) that
    # the other does not need.
    if settings.recognizer == "zero-shot":
        from recognition.zero_shot import ZeroShotRecognizer

        return ZeroShotRecognizer(settings, catalog or FixedCatalog([]), decoder=decoder)
    from recognition.gate import WithVerdicts

    if settings.recognizer == "huggingface":
        from recognition.huggingface import HuggingFaceRecognizer

        return WithVerdicts(HuggingFaceRecognizer(settings), settings)
    from recognition.local import LocalRecognizer

    return WithVerdicts(LocalRecognizer(settings, decoder=decoder), settings)
