"""Picking the backend that RECOGNIZER names."""

from __future__ import annotations

from config import Settings
from recognition.base import Recognizer
from recognition.prompts import CatalogSource, FixedCatalog
from storage.decode_pool import DecodePool


def create_recognizer(
    settings: Settings, decoder: DecodePool, catalog: CatalogSource | None = None
) -> Recognizer:
    """The backend, wrapped so that each photo (or each vehicle in it, with
    DETECTOR) gets its guesses, a verdict and a colour. `decoder`: the server's
    one decode pool, for everything that decodes pixels. `catalog`: the names
    the zero-shot backend chooses from (the stored catalog in the server); the
    other backends ignore it."""
    from recognition.vehicles import VehicleRecognizer

    classifier = create_classifier(settings, decoder, catalog)
    return VehicleRecognizer(classifier, settings, decoder=decoder)


def create_classifier(
    settings: Settings, decoder: DecodePool, catalog: CatalogSource | None = None
) -> Recognizer:
    # Imported here: each backend pulls in heavy libraries (torch, aiohttp) that
    # the other does not need.
    if settings.recognizer == "zero-shot":
        from recognition.zero_shot import ZeroShotRecognizer

        return ZeroShotRecognizer(settings, catalog or FixedCatalog([]), decoder=decoder)
    from recognition.gate import WithVerdicts

    if settings.recognizer == "huggingface":
        from recognition.huggingface import HuggingFaceRecognizer

        return WithVerdicts(HuggingFaceRecognizer(settings), settings, decoder=decoder)
    from recognition.local import LocalRecognizer

    return WithVerdicts(LocalRecognizer(settings, decoder=decoder), settings, decoder=decoder)
