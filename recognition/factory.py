"""Picking the backend that RECOGNIZER names."""

from __future__ import annotations

from config import Settings
from recognition.base import Recognizer
from storage.decode_pool import DecodePool


def create_recognizer(settings: Settings, decoder: DecodePool) -> Recognizer:
    """`decoder`: the server's one decode pool, for backends that decode pixels."""
    # Imported here: each backend pulls in heavy libraries (torch, aiohttp) that
    # the other does not need.
    if settings.recognizer == "huggingface":
        from recognition.huggingface import HuggingFaceRecognizer

        return HuggingFaceRecognizer(settings)
    from recognition.local import LocalRecognizer

    return LocalRecognizer(settings, decoder=decoder)
