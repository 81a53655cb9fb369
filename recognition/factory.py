"""Picking the backend that RECOGNIZER names."""

from __future__ import annotations

from config import Settings
from recognition.base import Recognizer
from recognition.prompts import CatalogSource, FixedCatalog


def create_recognizer(settings: Settings, catalog: CatalogSource | None = None) -> Recognizer:
    """`catalog`: the names the zero-shot backend chooses from (the stored
    catalog in the server); the other backends ignore it."""
    # Imported here: each backend pulls in heavy libraries (torch, aiohttp) that
    # the other does not need.
    if settings.recognizer == "zero-shot":
        from recognition.zero_shot import ZeroShotRecognizer

        return ZeroShotRecognizer(settings, catalog or FixedCatalog([]))
    from recognition.gate import WithVerdicts

    if settings.recognizer == "huggingface":
        from recognition.huggingface import HuggingFaceRecognizer

        return WithVerdicts(HuggingFaceRecognizer(settings), settings)
    from recognition.local import LocalRecognizer

    return WithVerdicts(LocalRecognizer(settings), settings)
