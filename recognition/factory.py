"""Picking the backend that RECOGNIZER names."""

from __future__ import annotations

from config import Settings
from recognition.base import Recognizer
from storage.decode_pool import DecodePool


def create_recognizer(settings: Settings, decoder: DecodePool) -> Recognizer:
    """The backend, wrapped so that each photo (or each vehicle in it, with
    DETECTOR) gets its guesses and a colour. `decoder`: the server's one decode
    pool, for everything that decodes pixels."""
    from recognition.vehicles import VehicleRecognizer

    return VehicleRecognizer(create_classifier(settings, decoder), settings, decoder=decoder)


def create_classifier(settings: Settings, decoder: DecodePool) -> Recognizer:
    # Imported here: each backend pulls in heavy libraries (torch, aiohttp) that
    # the other does not need.
    if settings.recognizer == "huggingface":
        from recognition.huggingface import HuggingFaceRecognizer

        return HuggingFaceRecognizer(settings)
    from recognition.local import LocalRecognizer

    return LocalRecognizer(settings, decoder=decoder)
