"""Whether the Hugging Face Hub answers, asked once before a model loads.

Where the Hub cannot be reached the request usually hangs rather than being
refused, and transformers would wait for its download timeouts and retries
(92 s on such a machine) before giving up. One short request says the same in
seconds: then the model loads from the local cache if it is there, and
otherwise the load fails at once, saying why."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx2
from huggingface_hub import constants, is_offline_mode, model_info, try_to_load_from_cache

log = logging.getLogger("cars.recognizer")

# How long the Hub has to answer one small request (connect and read each).
CHECK_TIMEOUT_S = 5.0


def cache_only(model_id: str, *, timeout: float = CHECK_TIMEOUT_S) -> bool:
    """True when `model_id` must load from the local cache only (the Hub did not
    answer, but the model is cached). Raises OSError when the Hub did not answer
    and nothing is cached. A local folder, or HF_HUB_OFFLINE, needs no check;
    a Hub that answers with an error (unknown or private model) is left to
    transformers, whose message says what is wrong."""
    if Path(model_id).is_dir() or is_offline_mode():
        return False
    try:
        model_info(model_id, timeout=timeout)
    except httpx2.TransportError as exc:
        if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
            log.warning("the Hugging Face Hub did not answer; loading %s from the cache", model_id)
            return True
        raise OSError(
            f"the Hugging Face Hub ({constants.ENDPOINT}) did not answer within {timeout:g} s"
            " and the model is not in the local cache"
        ) from exc
    except Exception:  # an answer, even a refusal: the Hub is reachable
        return False
    return False
