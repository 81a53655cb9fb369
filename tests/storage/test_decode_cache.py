"""DECODE_CACHE_MB: Pillow keeps that much freed pixel memory for the next
decode, so uploads are not decoded into fresh memory (storage/decode_pool.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PIL import _imaging as pixels
from starlette.testclient import TestClient

from config import Settings
from server import create_app
from tests import images


@pytest.fixture(autouse=True)
def _restore_blocks_max() -> Iterator[None]:
    before = pixels.get_blocks_max()
    yield
    pixels.set_blocks_max(before)


@pytest.mark.parametrize(("megabytes", "blocks"), [(96, 6), (40, 2), (0, 0)])
def test_the_server_keeps_the_pixel_memory_its_setting_allows(
    make_settings: Callable[..., Settings], megabytes: int, blocks: int
) -> None:
    assert pixels.get_block_size() == 16 * 1024 * 1024  # Pillow's default block
    settings = make_settings(decode_cache_mb=megabytes)
    with TestClient(create_app(settings)) as client:
        assert pixels.get_blocks_max() == blocks
        pixels.reset_stats()
        for name in ("one.png", "two.png"):  # PNGs: decoded whole, 12 MB of pixels each
            data = images.png(2000, 1500)
            response = client.post("/upload/", files={"file": (name, data, "image/png")})
            assert response.status_code == 200, response.text
        reused = pixels.get_stats()["reused_blocks"]
        # the second decode's memory is the first's, when any may be kept
        assert (reused > 0) == (blocks > 0), pixels.get_stats()
